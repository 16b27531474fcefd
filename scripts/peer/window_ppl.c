// window-ppl: llama.cpp's perplexity under spikeq's windows protocol, so that the two can be
// compared number for number (llama-perplexity scores only the second half of each window and
// starts it with BOS, which is a different protocol).
//
//   window-ppl MODEL.gguf TEXT_FILE [WINDOWS] [THREADS]
//
// The whole text is tokenized in one piece by llama.cpp (no BOS/EOS, no special tokens); window w
// is token id 0 followed by text tokens [511 w, 511 w + 511); position i predicts text token i, so
// every text token is scored; fresh KV cache per window; NLL = logsumexp(logits) - logit[target]
// in double; PPL = exp(mean NLL). KV cache in f32 and no flash attention, to stay near f32 math.
// Linked with the BLAS backend, the weights stay in plain host buffers (no CPU repacking of Q4_0,
// Q4_K, IQ4_NL, ...), so that BLAS takes every large product: weights dequantized by ggml's
// to_float, activations in f32.
// Prints the first 12 token ids (to check against spikeq's tokenizer) and "ppl X".
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ggml-backend.h"
#include "llama.h"

enum { WINDOW = 511 };

static void quiet(enum ggml_log_level level, const char * text, void * user) {
    (void) user;
    if (level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

static char * read_file(const char * path, long * len) {
    FILE * f = fopen(path, "rb");
    if (!f) { perror(path); exit(1); }
    fseek(f, 0, SEEK_END);
    *len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char * buf = malloc(*len + 1);
    if (!buf || fread(buf, 1, *len, f) != (size_t) *len) { fprintf(stderr, "cannot read %s\n", path); exit(1); }
    fclose(f);
    buf[*len] = 0;
    return buf;
}

int main(int argc, char ** argv) {
    if (argc < 3) { fprintf(stderr, "usage: %s MODEL TEXT [WINDOWS] [THREADS]\n", argv[0]); return 2; }
    int windows = argc > 3 ? atoi(argv[3]) : 1;
    int threads = argc > 4 ? atoi(argv[4]) : 2;
    llama_log_set(quiet, NULL);
    llama_backend_init();

    struct llama_model_params mp = llama_model_default_params();
    mp.use_extra_bufts = ggml_backend_reg_by_name("BLAS") == NULL;
    struct llama_model * model = llama_model_load_from_file(argv[1], mp);
    if (!model) { fprintf(stderr, "cannot load %s\n", argv[1]); return 1; }
    const struct llama_vocab * vocab = llama_model_get_vocab(model);
    int n_vocab = llama_vocab_n_tokens(vocab);

    long len;
    char * text = read_file(argv[2], &len);
    int n_max = (int) len + 16;
    llama_token * toks = malloc(sizeof(llama_token) * n_max);
    int n = llama_tokenize(vocab, text, (int) len, toks, n_max, false, false);
    if (n < 0) { fprintf(stderr, "tokenize failed\n"); return 1; }
    printf("tokens %d, first:", n);
    for (int i = 0; i < 12 && i < n; i++) printf(" %d", toks[i]);
    printf("\n");

    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = WINDOW + 1;
    cp.n_batch = WINDOW + 1;
    cp.n_ubatch = WINDOW + 1;
    cp.n_threads = threads;
    cp.n_threads_batch = threads;
    cp.type_k = GGML_TYPE_F32;
    cp.type_v = GGML_TYPE_F32;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    struct llama_context * ctx = llama_init_from_model(model, cp);
    if (!ctx) { fprintf(stderr, "cannot create a context\n"); return 1; }

    struct llama_batch batch = llama_batch_init(WINDOW + 1, 0, 1);
    double nll = 0;
    long scored = 0;
    for (int w = 0; w < windows && w * WINDOW < n; w++) {
        int start = w * WINDOW;
        int m = n - start < WINDOW ? n - start : WINDOW;
        batch.n_tokens = m + 1;
        for (int i = 0; i <= m; i++) {
            batch.token[i] = i == 0 ? 0 : toks[start + i - 1];
            batch.pos[i] = i;
            batch.n_seq_id[i] = 1;
            batch.seq_id[i][0] = 0;
            batch.logits[i] = i < m;
        }
        llama_memory_clear(llama_get_memory(ctx), true);
        if (llama_decode(ctx, batch) != 0) { fprintf(stderr, "decode failed\n"); return 1; }
        for (int i = 0; i < m; i++) {
            const float * lg = llama_get_logits_ith(ctx, i);
            double mx = lg[0];
            for (int v = 1; v < n_vocab; v++) mx = lg[v] > mx ? lg[v] : mx;
            double s = 0;
            for (int v = 0; v < n_vocab; v++) s += exp(lg[v] - mx);
            nll += mx + log(s) - lg[toks[start + i]];
            scored++;
        }
    }
    printf("windows %d, scored %ld, ppl %.4f\n", windows, scored, exp(nll / scored));
    llama_batch_free(batch);
    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    free(toks);
    free(text);
    return 0;
}
