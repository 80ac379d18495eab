//! Byte-level mutations of corpus inputs, in the manner of libFuzzer's and AFL's havoc stage:
//! bit flips, interesting values, inserted and deleted runs, splices of two inputs, dictionary
//! tokens, and numbers in the text replaced by boundary values. No coverage feedback (that
//! needs an instrumented nightly build); instead [`crate::Fuzzer`] keeps inputs whose outcome
//! was not seen before, so accepted and refused shapes both keep being explored.

use rand::{rngs::StdRng, Rng};

/// Numbers that break arithmetic and bounds: zero, signs, the edges of integer types, float
/// extremes, forms some parsers accept and others refuse.
pub const INTERESTING_NUMBERS: &[&str] = &[
    "0",
    "-0",
    "1",
    "-1",
    "127",
    "128",
    "255",
    "256",
    "65535",
    "65536",
    "2147483647",
    "2147483648",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999999",
    "1e308",
    "1e309",
    "-1e308",
    "4.9e-324",
    "0.1",
    "1.5",
    "NaN",
    "inf",
    "-inf",
    "0x10",
    "+5",
    "007",
    "1_000",
];

/// Applies one to four mutations to `input`, using `others` for splices and `dict` for tokens.
pub fn mutate(rng: &mut StdRng, input: &[u8], others: &[Vec<u8>], dict: &[&str]) -> Vec<u8> {
    let mut out = input.to_vec();
    let rounds = rng.gen_range(1..=4);
    for _ in 0..rounds {
        match rng.gen_range(0..10) {
            0 => flip_bit(rng, &mut out),
            1 => set_byte(rng, &mut out),
            2 => insert_bytes(rng, &mut out),
            3 => delete_range(rng, &mut out),
            4 => duplicate_range(rng, &mut out),
            5 => splice(rng, &mut out, others),
            6 | 7 => insert_token(rng, &mut out, dict),
            _ => replace_number(rng, &mut out),
        }
    }
    // Bound the size: parsers' cost grows with input, and huge inputs slow the run for nothing.
    out.truncate(64 * 1024);
    out
}

fn flip_bit(rng: &mut StdRng, out: &mut [u8]) {
    if out.is_empty() {
        return;
    }
    let i = rng.gen_range(0..out.len());
    out[i] ^= 1 << rng.gen_range(0..8);
}

fn set_byte(rng: &mut StdRng, out: &mut Vec<u8>) {
    if out.is_empty() {
        out.push(rng.gen());
        return;
    }
    let i = rng.gen_range(0..out.len());
    const SPECIAL: &[u8] = b"\0\n\r\t :-,.\"'{}[]()/\\#&*!|>%@`=+_0919\xff\x80\xc3";
    out[i] = if rng.gen_bool(0.5) {
        SPECIAL[rng.gen_range(0..SPECIAL.len())]
    } else {
        rng.gen()
    };
}

fn insert_bytes(rng: &mut StdRng, out: &mut Vec<u8>) {
    let at = rng.gen_range(0..=out.len());
    let len = rng.gen_range(1..=16);
    let byte: u8 = rng.gen();
    let bytes: Vec<u8> = if rng.gen_bool(0.5) {
        vec![byte; len]
    } else {
        (0..len).map(|_| rng.gen()).collect()
    };
    out.splice(at..at, bytes);
}

fn delete_range(rng: &mut StdRng, out: &mut Vec<u8>) {
    if out.is_empty() {
        return;
    }
    let at = rng.gen_range(0..out.len());
    let len = rng.gen_range(1..=(out.len() - at).min(64));
    out.drain(at..at + len);
}

fn duplicate_range(rng: &mut StdRng, out: &mut Vec<u8>) {
    if out.is_empty() {
        return;
    }
    let at = rng.gen_range(0..out.len());
    let len = rng.gen_range(1..=(out.len() - at).min(256));
    let copy = out[at..at + len].to_vec();
    let to = rng.gen_range(0..=out.len());
    out.splice(to..to, copy);
}

fn splice(rng: &mut StdRng, out: &mut Vec<u8>, others: &[Vec<u8>]) {
    if others.is_empty() {
        return;
    }
    let other = &others[rng.gen_range(0..others.len())];
    if other.is_empty() {
        return;
    }
    let from = rng.gen_range(0..other.len());
    let len = rng.gen_range(1..=(other.len() - from));
    let at = rng.gen_range(0..=out.len());
    let cut = rng.gen_range(at..=out.len());
    out.splice(at..cut, other[from..from + len].iter().copied());
}

fn insert_token(rng: &mut StdRng, out: &mut Vec<u8>, dict: &[&str]) {
    let token = if dict.is_empty() || rng.gen_bool(0.3) {
        INTERESTING_NUMBERS[rng.gen_range(0..INTERESTING_NUMBERS.len())]
    } else {
        dict[rng.gen_range(0..dict.len())]
    };
    let at = rng.gen_range(0..=out.len());
    if rng.gen_bool(0.5) || at == out.len() {
        out.splice(at..at, token.bytes());
    } else {
        // Overwrite rather than insert, so a field keeps its place.
        let end = (at + token.len()).min(out.len());
        out.splice(at..end, token.bytes());
    }
}

/// Replaces one run of digits (with its sign and fraction) by an interesting number.
fn replace_number(rng: &mut StdRng, out: &mut Vec<u8>) {
    let starts: Vec<usize> = (0..out.len())
        .filter(|&i| out[i].is_ascii_digit() && (i == 0 || !out[i - 1].is_ascii_digit()))
        .collect();
    if starts.is_empty() {
        return;
    }
    let mut start = starts[rng.gen_range(0..starts.len())];
    if start > 0 && out[start - 1] == b'-' {
        start -= 1;
    }
    let mut end = start + 1;
    while end < out.len() && (out[end].is_ascii_digit() || out[end] == b'.') {
        end += 1;
    }
    let number = INTERESTING_NUMBERS[rng.gen_range(0..INTERESTING_NUMBERS.len())];
    out.splice(start..end, number.bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn mutations_stay_bounded_and_change_inputs() {
        let mut rng = StdRng::seed_from_u64(7);
        let input = b"cpu  1 2 3 4 5 6 7 8\n".to_vec();
        let mut changed = 0;
        for _ in 0..10_000 {
            let out = mutate(&mut rng, &input, std::slice::from_ref(&input), &["cpu0 "]);
            assert!(out.len() <= 64 * 1024);
            changed += usize::from(out != input);
        }
        assert!(
            changed > 9_000,
            "only {changed} of 10000 mutations changed the input"
        );
    }
}
