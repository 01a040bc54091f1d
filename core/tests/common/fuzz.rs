//! The mutation harness: seeded inputs through a parser, each one under `catch_unwind`, a
//! watchdog and the counting allocator, every rejection message checked and tallied.
//!
//! - **No panic**: a panic fails the run and names the input (format, index, seed); rerun just
//!   that input with `STEERSCOPE_MUTATION_INDEX=i` (and `STEERSCOPE_MUTATION_DUMP=FILE` writes
//!   it to FILE).
//! - **No hang**: a watchdog thread ends the process if one input runs longer than
//!   `STEERSCOPE_MUTATION_HANG_S` seconds (default 120, far above the ~milliseconds each takes,
//!   so a loaded machine never trips it — it catches loops, not slowness).
//! - **Bounded memory**: the most the heap grows while one input is parsed (and, for models, run)
//!   must stay under `factor · input length + constant` — a lying length field must never turn
//!   into an allocation.
//! - **Errors name the problem**: a rejection message must not be empty or generic and must say
//!   which input it is about (the format's context words); the distinct messages are printed
//!   as a histogram.
//!
//! The number of inputs per format is `STEERSCOPE_MUTATIONS` (default 10,000; the long run in
//! the README uses 100,000).
use super::counting;
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use steerscope::rng::Rng;

/// Inputs per format: `STEERSCOPE_MUTATIONS`, default 10,000.
pub fn count() -> usize {
    std::env::var("STEERSCOPE_MUTATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000)
}

/// What a format promises about its inputs.
pub struct Format<'a> {
    /// Shown in every report and failure.
    pub name: &'a str,
    /// Heap growth allowed for one input: `factor · len + constant` bytes.
    pub factor: usize,
    pub constant: usize,
    /// A rejection message must contain one of these (it says which input is bad).
    pub context: &'a [&'a str],
}

/// Messages that say nothing about what is wrong.
const GENERIC: [&str; 6] = ["", "error", "invalid", "invalid input", "cancelled", "unknown error"];

/// Why `msg` does not name the problem, if it does not.
pub fn vague(msg: &str, context: &[&str]) -> Option<String> {
    let m = msg.trim();
    if GENERIC.iter().any(|g| m.eq_ignore_ascii_case(g)) || m.len() < 16 {
        return Some(format!("generic or empty message {msg:?}"));
    }
    if !context.iter().any(|c| m.contains(c)) {
        return Some(format!("message {msg:?} does not say which input it is about (none of {context:?})"));
    }
    // A message that only relays the tensor library means a check is missing before it.
    if m.contains("tensor backend:") {
        return Some(format!("message {msg:?} is the tensor library's, not a check of the input"));
    }
    None
}

/// A message with its numbers replaced by `#`, cut to 110 characters: one histogram bucket.
fn shape(msg: &str) -> String {
    let mut out = String::new();
    let mut in_digits = false;
    for c in msg.chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                out.push('#');
            }
            in_digits = true;
        } else {
            in_digits = false;
            out.push(c);
        }
    }
    match out.char_indices().nth(110) {
        Some((i, _)) => format!("{}…", &out[..i]),
        None => out,
    }
}

/// What one run saw.
#[derive(Debug, Default)]
pub struct Tally {
    pub inputs: usize,
    pub accepted: usize,
    pub rejected: usize,
    /// Message shape → (count, first full message).
    pub messages: BTreeMap<String, (usize, String)>,
    /// Largest heap growth for one input, and that input's length.
    pub worst: (usize, usize),
}

/// One measurement at a time: the allocator counters are process-wide. Hold the guard while
/// measuring.
pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `count()` inputs from `make` through `check`. `check` returns `Ok` when the parser
/// accepted the input (after asserting what must then hold) and `Err(message)` when it refused
/// it; an assertion failure or any other panic inside is a failure of the run.
pub fn run(
    format: &Format, seed: u64, mut make: impl FnMut(&mut Rng) -> Vec<u8>, check: impl Fn(&[u8]) -> Result<(), String>,
) -> Tally {
    let _turn = serial();
    let n = count();
    let only: Option<usize> = std::env::var("STEERSCOPE_MUTATION_INDEX").ok().and_then(|v| v.parse().ok());
    let hang = Duration::from_secs(
        std::env::var("STEERSCOPE_MUTATION_HANG_S").ok().and_then(|v| v.parse().ok()).unwrap_or(120),
    );
    let current = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let (current, done, name) = (current.clone(), done.clone(), format.name.to_string());
        std::thread::spawn(move || {
            let (mut seen, mut since) = (usize::MAX, Instant::now());
            while !done.load(SeqCst) {
                std::thread::sleep(Duration::from_millis(200));
                let now = current.load(SeqCst);
                if now != seen {
                    (seen, since) = (now, Instant::now());
                } else if since.elapsed() > hang {
                    eprintln!("{name}: input {now} (seed {seed}) ran for more than {hang:?}: a hang");
                    std::process::exit(101);
                }
            }
        })
    };
    let started = Instant::now();
    let mut tally = Tally::default();
    let mut failures = Vec::new();
    for i in 0..n {
        let mut rng = Rng::new(seed.wrapping_mul(1_000_003).wrapping_add(i as u64));
        let input = make(&mut rng);
        if only.is_some_and(|o| o != i) {
            continue;
        }
        if let (Some(_), Ok(path)) = (only, std::env::var("STEERSCOPE_MUTATION_DUMP")) {
            std::fs::write(&path, &input).expect("write the input");
        }
        current.store(i + 1, SeqCst);
        let before = counting::start();
        let outcome = catch_unwind(AssertUnwindSafe(|| check(&input)));
        let grew = counting::grown_since(before);
        tally.inputs += 1;
        if grew > tally.worst.0 {
            tally.worst = (grew, input.len());
        }
        let mut fail = |why: String| {
            failures.push(format!("{} input {i} (seed {seed}, {} bytes): {why}", format.name, input.len()))
        };
        // (A panic's own backtrace can allocate megabytes: the panic is the failure then.)
        let budget = format.factor * input.len() + format.constant;
        if grew > budget && outcome.is_ok() {
            fail(format!(
                "allocated {grew} bytes, more than {budget} (= {} × length + {})",
                format.factor, format.constant
            ));
        }
        match outcome {
            Ok(Ok(())) => tally.accepted += 1,
            Ok(Err(msg)) => {
                tally.rejected += 1;
                if let Some(why) = vague(&msg, format.context) {
                    fail(why);
                }
                tally.messages.entry(shape(&msg)).or_insert((0, msg)).0 += 1;
            }
            Err(panic) => {
                let what = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                fail(format!("panicked: {what}"));
            }
        }
    }
    done.store(true, SeqCst);
    watchdog.join().unwrap();
    report(format, &tally, started.elapsed());
    assert!(failures.is_empty(), "{} of {} inputs failed:\n{}", failures.len(), tally.inputs, failures.join("\n"));
    tally
}

fn report(format: &Format, t: &Tally, took: Duration) {
    println!(
        "{}: {} inputs in {:.1} s: {} accepted, {} rejected with {} distinct messages; largest heap growth {} bytes (input of {} bytes)",
        format.name,
        t.inputs,
        took.as_secs_f64(),
        t.accepted,
        t.rejected,
        t.messages.len(),
        t.worst.0,
        t.worst.1
    );
    let mut by_count: Vec<_> = t.messages.iter().collect();
    by_count.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(b.0)));
    for (shape, (n, _)) in by_count.iter().take(40) {
        println!("  {n:>7}  {shape}");
    }
    if by_count.len() > 40 {
        println!("  … and {} rarer messages", by_count.len() - 40);
    }
}

// ------------------------------------------------------------------ mutation primitives

/// Byte-level mutations of `input`, 1 to `max_rounds` of them: flipped bits, random bytes,
/// interesting integers written over the bytes, runs of one byte, deletions, duplications and
/// truncations.
pub fn mutate_bytes(rng: &mut Rng, input: &mut Vec<u8>, max_rounds: usize) {
    for _ in 0..1 + rng.below(max_rounds) {
        if input.is_empty() {
            input.push(rng.next_u64() as u8);
            continue;
        }
        let at = rng.below(input.len());
        match rng.below(8) {
            0 => input[at] ^= 1 << rng.below(8),
            1 => input[at] = rng.next_u64() as u8,
            2 => {
                let v = interesting_u64(rng);
                let width = [1, 2, 4, 8][rng.below(4)];
                for (k, b) in v.to_le_bytes().iter().take(width).enumerate() {
                    if let Some(x) = input.get_mut(at + k) {
                        *x = *b;
                    }
                }
            }
            3 => {
                let len = 1 + rng.below(64);
                let b = [0u8, 0xff, 0x7f, 0x80, b'"', b'\n'][rng.below(6)];
                for x in input.iter_mut().skip(at).take(len) {
                    *x = b;
                }
            }
            4 => {
                let len = 1 + rng.below(64.min(input.len() - at));
                input.drain(at..at + len);
            }
            5 => {
                let len = 1 + rng.below(64.min(input.len() - at));
                let copy: Vec<u8> = input[at..at + len].to_vec();
                let to = rng.below(input.len() + 1);
                input.splice(to..to, copy);
            }
            6 => input.truncate(at),
            _ => input.insert(at, rng.next_u64() as u8),
        }
    }
}

/// Integers that break length and count checks.
pub fn interesting_u64(rng: &mut Rng) -> u64 {
    const V: [u64; 14] = [
        0,
        1,
        2,
        0x7f,
        0xff,
        0x7fff,
        0xffff,
        0x7fff_ffff,
        0xffff_ffff,
        1 << 32,
        1 << 40,
        i64::MAX as u64,
        u64::MAX,
        u64::MAX - 7,
    ];
    V[rng.below(V.len())]
}

/// f32 values that break arithmetic: NaN, infinities, the largest finite, subnormals, −0.
pub fn interesting_f32(rng: &mut Rng) -> f32 {
    const V: [f32; 10] =
        [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, f32::MAX, f32::MIN, 1e30, -1e30, 1e-45, -0.0, 65504.0];
    V[rng.below(V.len())]
}

/// f16 bit patterns that break arithmetic: NaN, infinities, the largest finite, a subnormal, −0.
pub fn interesting_f16_bits(rng: &mut Rng) -> u16 {
    const V: [u16; 8] = [0x7e00, 0x7c00, 0xfc00, 0x7bff, 0xfbff, 0x0001, 0x8000, 0x7fff];
    V[rng.below(V.len())]
}

/// Strings that break text handling: empty, blanks, control characters, escapes, non-ASCII,
/// path tricks, and long ones.
pub fn interesting_string(rng: &mut Rng) -> String {
    const V: [&str; 22] = [
        "",
        " ",
        "\t\n",
        "\u{0}",
        "\u{1b}[31m",
        "\r\n",
        "\u{feff}",
        "\u{fffd}",
        "\u{202e}evil",
        "日本語",
        "😀",
        "..",
        "../x",
        "/etc/passwd",
        "a\\b",
        "C:\\x",
        "a\"b",
        "\\u0000",
        "<|im_start|>",
        "null",
        "%00",
        "x y",
    ];
    match rng.below(V.len() + 2) {
        i if i < V.len() => V[i].to_string(),
        i if i == V.len() => "x".repeat(1 + rng.below(70_000)),
        _ => (0..1 + rng.below(40)).map(|_| char::from_u32(rng.below(0x3000) as u32).unwrap_or('?')).collect(),
    }
}
