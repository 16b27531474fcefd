//! Tokenizer against the reference count and prefix of the PTB test text, and round trips.

mod common;

#[test]
fn ptb_test_in_one_piece_matches_the_reference_tokenization() {
    let (_, tok) = common::model();
    let ids = tok.encode(&common::ptb_test()).unwrap();
    assert_eq!(ids.len(), 101_691);
    assert_eq!(&ids[..12], &[787, 357, 436, 304, 982, 2632, 283, 10865, 3717, 564, 979, 260]);
}

#[test]
fn ptb_round_trips() {
    let (_, tok) = common::model();
    let text = common::ptb_test();
    assert_eq!(tok.decode(&tok.encode(&text).unwrap()).unwrap(), text);
}

#[test]
fn arbitrary_unicode_round_trips() {
    let (_, tok) = common::model();
    // Scripts, digits of other scripts (split one by one), combining marks, emoji, whitespace runs.
    let ranges: [(u32, u32); 12] = [
        (0x20, 0x7E),
        (0x09, 0x0A),
        (0xA0, 0x17F),
        (0x370, 0x3FF),
        (0x400, 0x4FF),
        (0x600, 0x6FF),
        (0x900, 0x97F),
        (0x300, 0x36F),
        (0x3040, 0x30FF),
        (0x4E00, 0x4FFF),
        (0xAC00, 0xACFF),
        (0x1F300, 0x1F6FF),
    ];
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for len in [0usize, 1, 2, 7, 64, 1000] {
        for _ in 0..20 {
            let s: String = (0..len)
                .map(|_| {
                    let (lo, hi) = ranges[(next() % ranges.len() as u64) as usize];
                    char::from_u32(lo + (next() % u64::from(hi - lo + 1)) as u32).unwrap_or(' ')
                })
                .collect();
            let ids = tok.encode(&s).unwrap();
            assert_eq!(tok.decode(&ids).unwrap(), s, "ids {ids:?}");
        }
    }
    for s in ["", " ", "  \n\n\t x", "1234567890", "٣٤٥ ½ ²", "l'été s'est 're 'VE", "a\u{301}\u{302}", "🦀🦀 crab"]
    {
        assert_eq!(tok.decode(&tok.encode(s).unwrap()).unwrap(), s);
    }
}

#[test]
fn digits_are_single_tokens() {
    let (_, tok) = common::model();
    let ids = tok.encode("2024").unwrap();
    assert_eq!(ids.len(), 4);
    assert_eq!(tok.decode(&ids[..1]).unwrap(), "2");
}
