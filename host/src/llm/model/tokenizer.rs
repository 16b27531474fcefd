//! Byte-level BPE tokenizer built from the GGUF's own vocabulary and merges.
//!
//! Only the `gpt2` tokenizer model with the `smollm` pre-tokenizer is accepted (anything else is
//! an error rather than a silent mis-tokenization): the text is first split so that every numeric
//! character stands alone (HF `Digits(individual_digits)`), then each piece is split with the
//! GPT-2 pattern, each pre-token's UTF-8 bytes are mapped to the GPT-2 byte alphabet, and ranked
//! merges are applied lowest rank first, leftmost first.
//!
//! Both steps run in O(n log n) on any input (a 10⁶-character word without whitespace takes well
//! under a second): the pre-tokenizer is a linear-time automaton (the GPT-2 pattern's one
//! look-ahead is applied by hand, see [`Tokenizer::pretokens`]) and the merges come from a heap
//! over a linked list of symbols instead of rescanning the word after each merge.
//!
//! Control tokens such as `<|endoftext|>` are not recognised inside text: callers that need
//! them (the perplexity protocol's leading token 0) insert their ids directly.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use super::gguf::Gguf;
use super::ModelError;

/// The GPT-2 pre-tokenizer pattern as the HF ByteLevel pre-tokenizer uses it (the reference the
/// tests compare [`PRETOKEN_PATTERN`] against).
#[cfg(test)]
const GPT2_PATTERN: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
/// [`GPT2_PATTERN`] without its look-ahead alternative `\s+(?!\S)`, so that a linear-time regex
/// engine runs it; [`Tokenizer::pretokens`] applies the look-ahead.
const PRETOKEN_PATTERN: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+";
/// Vocabulary sizes above this are treated as a malformed file.
const MAX_VOCAB: usize = 1 << 22;

/// GPT-2's reversible map from bytes to printable characters: printable Latin-1 bytes map to
/// themselves, the others to U+0100 onwards in byte order.
fn byte_to_char() -> [char; 256] {
    let mut map = ['\0'; 256];
    let mut next = 256u32;
    for b in 0..=255u8 {
        let printable = matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
        map[b as usize] = if printable {
            char::from(b)
        } else {
            next += 1;
            char::from_u32(next - 1).unwrap_or('\0')
        };
    }
    map
}

/// A byte-level BPE tokenizer.
#[derive(Debug)]
pub struct Tokenizer {
    /// Id → the bytes the token stands for.
    token_bytes: Vec<Vec<u8>>,
    /// Byte → id of the one-byte token (the unknown token for bytes the vocabulary lacks).
    byte_ids: [u32; 256],
    /// (left, right) → (rank, merged id).
    merges: HashMap<(u32, u32), (u32, u32)>,
    pretokenizer: regex::Regex,
    eos: u32,
}

impl Tokenizer {
    /// Builds the tokenizer from `tokenizer.ggml.*` metadata.
    pub fn from_gguf(gguf: &Gguf) -> Result<Self, ModelError> {
        let err = |m: String| ModelError::Tokenizer(m);
        let model = gguf.str_key("tokenizer.ggml.model")?;
        if model != "gpt2" {
            return Err(err(format!("tokenizer.ggml.model is {model:?}; only byte-level BPE (\"gpt2\") is supported")));
        }
        let pre = gguf.str_key("tokenizer.ggml.pre")?;
        if pre != "smollm" {
            return Err(err(format!("tokenizer.ggml.pre is {pre:?}; only \"smollm\" is supported")));
        }
        let tokens = gguf.array_key("tokenizer.ggml.tokens")?;
        if tokens.is_empty() || tokens.len() > MAX_VOCAB {
            return Err(err(format!("vocabulary of {} tokens", tokens.len())));
        }
        let tokens: Vec<&str> = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| t.as_str().ok_or_else(|| err(format!("token {i} is not a string"))))
            .collect::<Result<_, _>>()?;
        let mut ids: HashMap<&str, u32> = HashMap::with_capacity(tokens.len());
        for (i, t) in tokens.iter().enumerate() {
            ids.entry(t).or_insert(i as u32);
        }

        let to_char = byte_to_char();
        let mut from_char: HashMap<char, u8> = HashMap::with_capacity(256);
        // SmolLM2's vocabulary lacks a few bytes (some control characters and lead bytes of
        // unassigned planes); like the HF tokenizer, those encode as the unknown token.
        let unknown = gguf.usize_key("tokenizer.ggml.unknown_token_id").ok().filter(|&u| u < tokens.len());
        let mut byte_ids = [0u32; 256];
        for (b, c) in to_char.iter().enumerate() {
            from_char.insert(*c, b as u8);
            byte_ids[b] = match (ids.get(c.encode_utf8(&mut [0; 4]) as &str), unknown) {
                (Some(&id), _) => id,
                (None, Some(unk)) => unk as u32,
                (None, None) => return Err(err(format!("no token for byte {b:#04x} ({c:?}) and no unknown token"))),
            };
        }
        // Tokens outside the byte alphabet (control tokens) stand for their own UTF-8 text.
        let token_bytes = tokens
            .iter()
            .map(|t| {
                t.chars()
                    .flat_map(|c| match from_char.get(&c) {
                        Some(&b) => vec![b],
                        None => c.encode_utf8(&mut [0; 4]).as_bytes().to_vec(),
                    })
                    .collect()
            })
            .collect();

        let merge_list = gguf.array_key("tokenizer.ggml.merges")?;
        let mut merges = HashMap::with_capacity(merge_list.len());
        for (rank, m) in merge_list.iter().enumerate() {
            let m = m.as_str().ok_or_else(|| err(format!("merge {rank} is not a string")))?;
            let (l, r) = m.split_once(' ').ok_or_else(|| err(format!("merge {rank} {m:?} has no space")))?;
            let id = |s: &str| {
                ids.get(s).copied().ok_or_else(|| err(format!("merge {rank} {m:?}: {s:?} is not in the vocabulary")))
            };
            let merged = id(&format!("{l}{r}"))?;
            merges.entry((id(l)?, id(r)?)).or_insert((rank as u32, merged));
        }

        let eos = gguf.usize_key("tokenizer.ggml.eos_token_id")?;
        if eos >= tokens.len() {
            return Err(ModelError::BadToken { id: eos as u32, vocab: tokens.len() });
        }
        let pretokenizer =
            regex::Regex::new(PRETOKEN_PATTERN).map_err(|e| err(format!("pre-tokenizer pattern: {e}")))?;
        Ok(Self { token_bytes, byte_ids, merges, pretokenizer, eos: eos as u32 })
    }

    pub fn vocab_size(&self) -> usize {
        self.token_bytes.len()
    }

    /// The end-of-sequence token id.
    pub fn eos(&self) -> u32 {
        self.eos
    }

    /// Tokenizes `text` (no BOS is added: SmolLM2's GGUF sets `add_bos_token = false`).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        let mut out = Vec::with_capacity(text.len() / 3);
        // Pre-tokens repeat a lot in running text; memoize their merges for this call.
        let mut cache: HashMap<&str, Vec<u32>> = HashMap::new();
        for piece in split_numeric(text) {
            for word in self.pretokens(piece) {
                let ids = cache.entry(word).or_insert_with(|| self.bpe(word));
                out.extend_from_slice(ids);
            }
        }
        Ok(out)
    }

    /// The pre-tokens of `piece`, as [`GPT2_PATTERN`] finds them. Its alternative `\s+(?!\S)`
    /// (a whitespace run, less its last character when a non-space follows, so that the space
    /// joins the next word) comes before the plain `\s+`; the linear-time pattern has only `\s+`,
    /// which takes the whole run, so a run of two or more characters that a non-space follows
    /// gives back its last character here. Every character matches some alternative, so the
    /// pre-tokens tile the piece.
    fn pretokens<'t>(&self, piece: &'t str) -> impl Iterator<Item = &'t str> + use<'t, '_> {
        let mut pos = 0;
        std::iter::from_fn(move || {
            let m = self.pretokenizer.find_at(piece, pos)?;
            let s = m.as_str();
            let mut end = m.end();
            if end < piece.len() && s.chars().all(char::is_whitespace) {
                if let Some((last, _)) = s.char_indices().nth(1).and(s.char_indices().next_back()) {
                    end = m.start() + last;
                }
            }
            pos = end;
            Some(&piece[m.start()..end])
        })
    }

    /// Applies the ranked merges to one pre-token: repeatedly the lowest-ranked adjacent pair,
    /// leftmost among equals. Symbols live in a linked list indexed by their first byte, and
    /// candidate pairs in a min-heap keyed (rank, position); a popped pair whose symbols changed
    /// since it was pushed is stale and skipped. O(n log n) in the pre-token's length.
    fn bpe(&self, word: &str) -> Vec<u32> {
        const END: usize = usize::MAX;
        let n = word.len();
        let mut id: Vec<u32> = word.bytes().map(|b| self.byte_ids[b as usize]).collect();
        let mut next: Vec<usize> = (1..=n).map(|i| if i == n { END } else { i }).collect();
        let mut prev: Vec<usize> = (0..n).map(|i| i.checked_sub(1).unwrap_or(END)).collect();
        let mut alive = vec![true; n];
        let mut heap = BinaryHeap::new();
        let push = |heap: &mut BinaryHeap<_>, id: &[u32], l: usize, r: usize| {
            if let Some(&(rank, merged)) = self.merges.get(&(id[l], id[r])) {
                heap.push(Reverse((rank, l, r, id[l], id[r], merged)));
            }
        };
        for l in 1..n {
            push(&mut heap, &id, l - 1, l);
        }
        while let Some(Reverse((_, l, r, left, right, merged))) = heap.pop() {
            let current = alive[l] && alive[r] && next[l] == r && id[l] == left && id[r] == right;
            if !current {
                continue;
            }
            id[l] = merged;
            alive[r] = false;
            next[l] = next[r];
            if next[r] != END {
                prev[next[r]] = l;
                push(&mut heap, &id, l, next[r]);
            }
            if prev[l] != END {
                push(&mut heap, &id, prev[l], l);
            }
        }
        let mut out = Vec::new();
        let mut i = if n == 0 { END } else { 0 };
        while i != END {
            out.push(id[i]);
            i = next[i];
        }
        out
    }

    /// The bytes a token stands for.
    pub fn token_bytes(&self, id: u32) -> Result<&[u8], ModelError> {
        self.token_bytes
            .get(id as usize)
            .map(Vec::as_slice)
            .ok_or(ModelError::BadToken { id, vocab: self.token_bytes.len() })
    }

    /// Decodes ids to text; byte sequences that are not UTF-8 become U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> Result<String, ModelError> {
        let mut bytes = Vec::new();
        for &id in ids {
            bytes.extend_from_slice(self.token_bytes(id)?);
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// Splits `text` so that every numeric character (Unicode category N, `char::is_numeric`) is a
/// piece of its own, as the `smollm` pre-tokenizer does before the GPT-2 pattern.
fn split_numeric(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        let (i, c) = rest.char_indices().find(|(_, c)| c.is_numeric()).unwrap_or((rest.len(), ' '));
        let piece = if i > 0 {
            &rest[..i]
        } else if rest.is_empty() {
            return None;
        } else {
            &rest[..c.len_utf8()]
        };
        rest = &rest[piece.len()..];
        Some(piece)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_map_is_a_bijection() {
        let map = byte_to_char();
        let set: std::collections::HashSet<char> = map.iter().copied().collect();
        assert_eq!(set.len(), 256);
        assert_eq!(map[b' ' as usize], 'Ġ');
        assert_eq!(map[b'\n' as usize], 'Ċ');
    }

    /// The GPT-2 pattern with its look-ahead, run by a backtracking engine: the reference.
    fn pretokens_ref(piece: &str) -> Vec<String> {
        let re = fancy_regex::Regex::new(GPT2_PATTERN).unwrap();
        re.find_iter(piece).map(|m| m.unwrap().as_str().to_owned()).collect()
    }

    /// A tokenizer over a small alphabet whose merges overlap and tie, built without a model file.
    fn toy() -> Tokenizer {
        let mut byte_ids = [0u32; 256];
        for (b, id) in byte_ids.iter_mut().enumerate() {
            *id = b as u32;
        }
        let (a, b, c) = (u32::from(b'a'), u32::from(b'b'), u32::from(b'c'));
        // aa (rank 0), ab (1), aab (2), ba (3), bc (4), aaaa (5): ties and chains.
        let merges = [((a, a), 256), ((a, b), 257), ((256, b), 258), ((b, a), 259), ((b, c), 260), ((256, 256), 261)];
        let merges = merges.iter().enumerate().map(|(rank, &(pair, id))| (pair, (rank as u32, id))).collect();
        Tokenizer {
            token_bytes: Vec::new(),
            byte_ids,
            merges,
            pretokenizer: regex::Regex::new(PRETOKEN_PATTERN).unwrap(),
            eos: 0,
        }
    }

    /// The plain quadratic merge loop the heap version replaces: the reference.
    fn bpe_ref(t: &Tokenizer, word: &str) -> Vec<u32> {
        let mut syms: Vec<u32> = word.bytes().map(|b| t.byte_ids[b as usize]).collect();
        loop {
            let best = syms
                .windows(2)
                .enumerate()
                .filter_map(|(i, p)| t.merges.get(&(p[0], p[1])).map(|&(rank, id)| (rank, i, id)))
                .min();
            let Some((_, i, id)) = best else { break };
            syms[i] = id;
            syms.remove(i + 1);
        }
        syms
    }

    proptest::proptest! {
        #[test]
        fn pretokens_match_the_lookahead_pattern(s in "[a-c1 \\t\\n\u{a0}'.,é٣!]{0,40}") {
            let t = toy();
            let got: Vec<&str> = t.pretokens(&s).collect();
            proptest::prop_assert_eq!(got, pretokens_ref(&s));
        }

        #[test]
        fn heap_merges_match_the_reference(s in "[abc]{0,64}") {
            let t = toy();
            proptest::prop_assert_eq!(t.bpe(&s), bpe_ref(&t, &s));
        }
    }

    #[test]
    fn a_long_word_without_whitespace_is_linear_not_quadratic() {
        // 10⁶ characters: the quadratic loop needed ~10¹² steps here, the backtracking
        // pre-tokenizer ran out of stack. The result must equal what short words give.
        let t = toy();
        let word = "ab".repeat(500_000);
        let words: Vec<&str> = t.pretokens(&word).collect();
        assert_eq!(words, [word.as_str()]);
        let ids = t.bpe(&word);
        assert_eq!(ids.len(), 500_000);
        assert!(ids.iter().all(|&i| i == 257), "ab merges first everywhere");
    }

    #[test]
    fn numeric_characters_stand_alone() {
        let pieces: Vec<&str> = split_numeric("ab 12x½ 3").collect();
        assert_eq!(pieces, ["ab ", "1", "2", "x", "½", " ", "3"]);
        assert_eq!(split_numeric("").count(), 0);
    }
}
