//! What every benchmark prints beside its table: the machine it ran on (CPUs differ between
//! machines, and this VM's speed drifts with its load).

/// The 1-, 5- and 15-minute load averages.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The CPU model, its threads and SIMD flags, as `grep -m1 flags /proc/cpuinfo` shows them (filtered).
pub fn cpu_flags() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model =
        info.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split(':').nth(1)).unwrap_or("").trim();
    let flags = info.lines().find(|l| l.starts_with("flags")).and_then(|l| l.split(':').nth(1)).unwrap_or("");
    let simd: Vec<&str> = flags
        .split_whitespace()
        .filter(|f| f.starts_with("avx") || f.starts_with("sse") || ["fma", "f16c", "ssse3", "amx_int8"].contains(f))
        .collect();
    format!(
        "{model}; {} threads; flags: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        simd.join(" ")
    )
}
