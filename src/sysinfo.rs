//! The machine a training or a run happens on: CPU, memory, and NVIDIA GPUs via NVML.
//!
//! NVML is loaded at run time by `nvml-wrapper`: on a machine without NVIDIA drivers
//! `Nvml::init` fails and the GPU is recorded as unavailable, with the reason. Never an error.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::recipe::{GpuDevice, GpuDeviceUsage, GpuInfo, GpuUsage, SystemInfo};

/// This machine's host name, or "unknown".
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// Logical CPUs this process may use.
pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The CPU's model name (Linux: /proc/cpuinfo), or the architecture.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name") || l.starts_with("Model"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// Peak resident set size of this process so far, in bytes (0 when unknown).
pub fn peak_memory() -> u64 {
    #[cfg(unix)]
    {
        // SAFETY: getrusage fills the struct it is given; zeroed is a valid initial value.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } == 0 {
            // Linux reports kilobytes.
            return (ru.ru_maxrss as u64).saturating_mul(1024);
        }
    }
    0
}

/// GPUs through NVML.
pub fn gpus() -> GpuInfo {
    use nvml_wrapper::Nvml;
    let nvml = match Nvml::init() {
        Ok(n) => n,
        Err(e) => {
            return GpuInfo {
                unavailable: Some(format!("NVML not available: {e}")),
                ..Default::default()
            }
        }
    };
    let mut info = GpuInfo {
        driver_version: nvml.sys_driver_version().ok(),
        ..Default::default()
    };
    let count = match nvml.device_count() {
        Ok(c) => c,
        Err(e) => {
            info.unavailable = Some(format!("NVML: cannot count devices: {e}"));
            return info;
        }
    };
    for i in 0..count {
        let Ok(dev) = nvml.device_by_index(i) else {
            continue;
        };
        let mem = dev.memory_info().ok();
        info.devices.push(GpuDevice {
            name: dev.name().unwrap_or_else(|_| format!("GPU {i}")),
            memory_total: mem.as_ref().map_or(0, |m| m.total),
            memory_used: mem.as_ref().map_or(0, |m| m.used),
            utilization: dev.utilization_rates().map_or(0, |u| u.gpu),
        });
    }
    if info.devices.is_empty() {
        info.unavailable = Some("NVML found no GPU".into());
    }
    info
}

/// Everything at once; `threads` is what the CPU backend uses.
pub fn system_info(threads: usize) -> SystemInfo {
    SystemInfo {
        mreg_version: env!("CARGO_PKG_VERSION").to_string(),
        os: std::env::consts::OS.to_string(),
        arch: std::env::consts::ARCH.to_string(),
        cpu_model: cpu_model(),
        cpus: cpus(),
        threads,
        peak_memory: peak_memory(),
        gpu: gpus(),
    }
}

/// Samples a running job every `period`: the threads of its main process and, through
/// NVML, each GPU's memory and utilization. `finish` stops it and returns the figures.
pub struct JobSampler {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<(Option<usize>, GpuUsage)>,
}

impl JobSampler {
    pub fn start(pid: u32, period: std::time::Duration) -> JobSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let nvml = nvml_wrapper::Nvml::init();
            let mut usage = GpuUsage::default();
            let mut sums: Vec<(u128, f64)> = Vec::new();
            let mut threads: Option<usize> = None;
            if let Err(e) = &nvml {
                usage.unavailable = Some(format!("NVML not available: {e}"));
            }
            loop {
                let last = flag.load(Ordering::Relaxed);
                if let Some(t) = process_threads(pid) {
                    threads = Some(threads.map_or(t, |m| m.max(t)));
                }
                if let Ok(n) = &nvml {
                    let count = n.device_count().unwrap_or(0);
                    if count == 0 && usage.unavailable.is_none() {
                        usage.unavailable = Some("NVML found no GPU".into());
                    }
                    for i in 0..count {
                        let Ok(dev) = n.device_by_index(i) else {
                            continue;
                        };
                        let i = i as usize;
                        if usage.devices.len() <= i {
                            usage.devices.resize(i + 1, GpuDeviceUsage::default());
                            sums.resize(i + 1, (0, 0.0));
                        }
                        let d = &mut usage.devices[i];
                        if d.name.is_empty() {
                            d.name = dev.name().unwrap_or_else(|_| format!("GPU {i}"));
                        }
                        if let Ok(m) = dev.memory_info() {
                            d.memory_total = m.total;
                            d.memory_peak = d.memory_peak.max(m.used);
                            sums[i].0 += m.used as u128;
                        }
                        if let Ok(u) = dev.utilization_rates() {
                            d.utilization_peak = d.utilization_peak.max(u.gpu);
                            sums[i].1 += u.gpu as f64;
                        }
                    }
                    usage.samples += 1;
                }
                if last {
                    break;
                }
                // Sleep in small steps so that a short job is not held up.
                let until = std::time::Instant::now() + period;
                while std::time::Instant::now() < until && !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
            }
            if usage.samples > 0 {
                for (d, (mem, util)) in usage.devices.iter_mut().zip(&sums) {
                    d.memory_mean = (*mem / usage.samples as u128) as u64;
                    d.utilization_mean = util / usage.samples as f64;
                }
            }
            (threads, usage)
        });
        JobSampler { stop, handle }
    }

    /// Stop sampling (one last sample is taken) and return (peak threads, GPU use).
    pub fn finish(self) -> (Option<usize>, GpuUsage) {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or_default()
    }
}

/// The `Threads:` line of /proc/PID/status.
fn process_threads(pid: u32) -> Option<usize> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Lists the interpreter and its installed distributions as JSON (Python 3.8+).
const PYTHON_PROBE: &str = r#"
import json, sys
try:
    import importlib.metadata as md
    pk = {}
    for d in md.distributions():
        name = d.metadata["Name"]
        if name:
            pk[name] = d.version
except Exception:
    pk = {}
print(json.dumps({"executable": sys.executable, "version": sys.version.split()[0], "packages": pk}))
"#;

/// True when `program` is a Python interpreter (`python`, `python3`, `python3.11`...).
pub fn is_python(program: &str) -> bool {
    let base = std::path::Path::new(program)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("");
    base.strip_prefix("python")
        .is_some_and(|rest| rest.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

/// The Python environment `program` runs in (None when it is not Python, or the probe
/// fails: a missing interpreter is the run's own error to report).
pub fn python_env(program: &str, cwd: &std::path::Path) -> Option<crate::recipe::PythonEnv> {
    if !is_python(program) {
        return None;
    }
    let out = std::process::Command::new(program)
        .args(["-c", PYTHON_PROBE])
        .current_dir(cwd)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn python_interpreters_are_recognised_by_name() {
        for p in ["python", "python3", "/usr/bin/python3.11", "python3.12"] {
            assert!(super::is_python(p), "{p}");
        }
        for p in ["pythonista", "ipython", "sh", "python3-config"] {
            assert!(!super::is_python(p), "{p}");
        }
    }

    #[test]
    fn system_info_never_fails_without_a_gpu() {
        let s = super::system_info(1);
        assert!(s.cpus >= 1);
        assert!(!s.cpu_model.is_empty());
        assert!(s.peak_memory > 0);
        // Either a GPU is listed or the reason it is not is recorded.
        assert!(!s.gpu.devices.is_empty() || s.gpu.unavailable.is_some());
    }
}
