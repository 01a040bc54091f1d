//! The GPU itself: adapter, device and queue, the limits the engine plans with, and how device
//! loss and GPU errors become [`Error`]s instead of panics.
//!
//! wgpu's default for an error nobody captured is to panic (natively) — a lost device or a
//! refused buffer must instead reach the caller, who can redo the work on the CPU. So the device
//! gets an uncaptured-error handler that only records, a device-lost callback that sets a flag,
//! and every submission runs inside error scopes whose result is awaited.
use crate::error::{Error, Result};
use alloc::{format, string::String, sync::Arc, vec::Vec};
use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicBool, Ordering};
use core::task::{Context as TaskContext, Poll, Waker};
use std::sync::Mutex;

/// Choices made when opening the GPU.
#[derive(Debug, Clone)]
pub struct GpuOptions {
    /// Caps the largest buffer the engine creates, below the adapter's own `max_buffer_size`
    /// (for tests of the splitting logic; `None` = the adapter's limit).
    pub max_buffer_size: Option<u64>,
    /// Caps `max_storage_buffer_binding_size` (the largest range one kernel can bind) likewise.
    pub max_storage_buffer_binding_size: Option<u64>,
    /// Tokens per chunk: the scratch activations hold this many rows, and a longer input is run
    /// chunk by chunk (each chunk's keys join the cache before the next one attends).
    pub chunk: usize,
}

impl Default for GpuOptions {
    fn default() -> Self {
        GpuOptions { max_buffer_size: None, max_storage_buffer_binding_size: None, chunk: 128 }
    }
}

/// What the adapter says about itself (for the page and `--json`; the browser may hide names).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AdapterSummary {
    /// The adapter's name (e.g. `llvmpipe`).
    pub name: String,
    /// `vulkan`, `metal`, `dx12`, `webgpu`, …
    pub backend: String,
    /// `discrete`, `integrated`, `virtual`, `cpu` or `other`.
    pub device_type: String,
    /// Driver name and version, where the platform tells.
    pub driver: String,
    /// A CPU adapter (lavapipe, SwiftShader, WARP): correct but slower than the CPU path.
    pub software: bool,
}

/// The limits the engine plans its buffers with (the device's, or lower ones asked for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct GpuLimits {
    /// Largest buffer, in bytes.
    pub max_buffer_size: u64,
    /// Largest storage-buffer binding, in bytes: a bigger matrix is split into parts.
    pub max_storage_buffer_binding_size: u64,
    /// Alignment of a storage binding's offset.
    pub min_storage_buffer_offset_alignment: u32,
    /// Alignment of a uniform binding's offset.
    pub min_uniform_buffer_offset_alignment: u32,
    /// Storage buffers one shader stage may bind.
    pub max_storage_buffers_per_shader_stage: u32,
}

impl GpuLimits {
    /// The largest buffer one kernel can read as a whole: the lower of the two size limits,
    /// named in refusals by whichever one binds.
    pub fn largest_binding(&self) -> (u64, &'static str) {
        if self.max_storage_buffer_binding_size <= self.max_buffer_size {
            (self.max_storage_buffer_binding_size, "max_storage_buffer_binding_size")
        } else {
            (self.max_buffer_size, "max_buffer_size")
        }
    }
}

/// An open GPU: cheap to clone (one shared device).
#[derive(Clone)]
pub struct Gpu {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub limits: GpuLimits,
    pub chunk: usize,
    pub adapter: AdapterSummary,
    /// Set by the device-lost callback; checked before and after every submission.
    lost: Arc<AtomicBool>,
    lost_reason: Arc<Mutex<String>>,
    /// Errors no scope captured (e.g. from a cache clone, which cannot return one).
    uncaptured: Arc<Mutex<Vec<String>>>,
}

impl Gpu {
    /// Opens the best adapter (high performance preferred; `WGPU_BACKEND` natively picks the
    /// backend). `Err(Error::NoGpu)` when there is none — the CPU path is then the one to run.
    pub async fn new(options: &GpuOptions) -> Result<Gpu> {
        check_options(options)?;
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle().with_env());
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })
            .await
            .map_err(|e| Error::NoGpu(format!("{e}")))?;
        Gpu::open(adapter, options).await
    }

    /// Every adapter wgpu finds (each backend's), opened; adapters that refuse a device are
    /// left out. For benchmarks that compare them.
    pub async fn all(options: &GpuOptions) -> Result<Vec<Gpu>> {
        check_options(options)?;
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle().with_env());
        let mut out = Vec::new();
        for adapter in instance.enumerate_adapters(wgpu::Backends::all()).await {
            if let Ok(g) = Gpu::open(adapter, options).await {
                out.push(g);
            }
        }
        Ok(out)
    }

    async fn open(adapter: wgpu::Adapter, options: &GpuOptions) -> Result<Gpu> {
        let available = adapter.limits();
        let cap = |limit: u64, asked: Option<u64>| asked.map_or(limit, |a| a.min(limit));
        let mut required = wgpu::Limits::downlevel_defaults();
        required.max_buffer_size = cap(available.max_buffer_size, options.max_buffer_size);
        required.max_storage_buffer_binding_size =
            cap(available.max_storage_buffer_binding_size, options.max_storage_buffer_binding_size);
        required.max_storage_buffers_per_shader_stage = available.max_storage_buffers_per_shader_stage.min(8);
        required.max_compute_workgroups_per_dimension = available.max_compute_workgroups_per_dimension;
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("steerscope"),
                required_features: wgpu::Features::empty(),
                required_limits: required.clone(),
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .map_err(|e| Error::NoGpu(format!("the adapter refused a device: {e}")))?;
        let lost = Arc::new(AtomicBool::new(false));
        let lost_reason = Arc::new(Mutex::new(String::new()));
        let (flag, reason) = (lost.clone(), lost_reason.clone());
        device.set_device_lost_callback(move |why, message| {
            *reason.lock().unwrap_or_else(|e| e.into_inner()) = format!("{why:?}: {message}");
            flag.store(true, Ordering::SeqCst);
        });
        let uncaptured = Arc::new(Mutex::new(Vec::new()));
        let sink = uncaptured.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let mut v = sink.lock().unwrap_or_else(|e| e.into_inner());
            if v.len() < 16 {
                v.push(format!("{e}"));
            }
        }));
        let d = device.limits();
        let limits = GpuLimits {
            max_buffer_size: d.max_buffer_size,
            max_storage_buffer_binding_size: d.max_storage_buffer_binding_size,
            min_storage_buffer_offset_alignment: d.min_storage_buffer_offset_alignment,
            min_uniform_buffer_offset_alignment: d.min_uniform_buffer_offset_alignment,
            max_storage_buffers_per_shader_stage: d.max_storage_buffers_per_shader_stage,
        };
        let info = adapter.get_info();
        let device_type = match info.device_type {
            wgpu::DeviceType::DiscreteGpu => "discrete",
            wgpu::DeviceType::IntegratedGpu => "integrated",
            wgpu::DeviceType::VirtualGpu => "virtual",
            wgpu::DeviceType::Cpu => "cpu",
            wgpu::DeviceType::Other => "other",
        };
        let name = info.name.clone();
        let lower = name.to_lowercase();
        let software = info.device_type == wgpu::DeviceType::Cpu
            || ["llvmpipe", "lavapipe", "swiftshader", "warp", "software"].iter().any(|s| lower.contains(s));
        let adapter = AdapterSummary {
            name,
            backend: format!("{:?}", info.backend).to_lowercase(),
            device_type: device_type.into(),
            driver: format!("{} {}", info.driver, info.driver_info).trim().into(),
            software,
        };
        Ok(Gpu {
            inner: Arc::new(Inner {
                device,
                queue,
                limits,
                chunk: options.chunk,
                adapter,
                lost,
                lost_reason,
                uncaptured,
            }),
        })
    }

    /// The adapter in use.
    pub fn adapter(&self) -> &AdapterSummary {
        &self.inner.adapter
    }

    /// The limits buffers are planned with.
    pub fn limits(&self) -> GpuLimits {
        self.inner.limits
    }

    /// Destroys the device, as a driver reset or the browser reclaiming the GPU would: every
    /// later call fails with [`Error::DeviceLost`]. For tests of the fallback path.
    pub fn destroy(&self) {
        self.inner.device.destroy();
        self.inner.lost.store(true, Ordering::SeqCst);
        let mut r = self.inner.lost_reason.lock().unwrap_or_else(|e| e.into_inner());
        if r.is_empty() {
            *r = "destroyed".into();
        }
    }

    /// Whether the device has been lost.
    pub fn is_lost(&self) -> bool {
        self.inner.lost.load(Ordering::SeqCst)
    }

    pub(crate) fn device(&self) -> &wgpu::Device {
        &self.inner.device
    }

    pub(crate) fn queue(&self) -> &wgpu::Queue {
        &self.inner.queue
    }

    /// `Err(DeviceLost)` once the device is gone.
    pub(crate) fn check_alive(&self) -> Result<()> {
        if self.is_lost() {
            let reason = self.inner.lost_reason.lock().unwrap_or_else(|e| e.into_inner()).clone();
            return Err(Error::DeviceLost(reason));
        }
        Ok(())
    }

    /// Turns a wgpu error (from a scope) into ours: a lost device wins over what it caused.
    fn gpu_error(&self, what: &str, e: impl core::fmt::Display) -> Error {
        self.check_alive().err().unwrap_or_else(|| Error::Gpu(format!("{what}: {e}")))
    }

    /// Runs `f` (creating resources, encoding, submitting) inside validation, out-of-memory and
    /// internal error scopes and reports the first error caught — or an earlier uncaptured one.
    pub(crate) async fn scoped<T>(&self, what: &str, f: impl FnOnce() -> T) -> Result<T> {
        self.check_alive()?;
        let d = &self.inner.device;
        let scopes = [
            d.push_error_scope(wgpu::ErrorFilter::Validation),
            d.push_error_scope(wgpu::ErrorFilter::OutOfMemory),
            d.push_error_scope(wgpu::ErrorFilter::Internal),
        ];
        let out = f();
        let mut first = None;
        for scope in scopes.into_iter().rev() {
            if let Some(e) = scope.pop().await {
                first.get_or_insert(e);
            }
        }
        if let Some(e) = first {
            return Err(self.gpu_error(what, e));
        }
        let earlier = core::mem::take(&mut *self.inner.uncaptured.lock().unwrap_or_else(|e| e.into_inner()));
        if let Some(e) = earlier.into_iter().next() {
            return Err(self.gpu_error("an earlier GPU operation", e));
        }
        self.check_alive()?;
        Ok(out)
    }

    /// Waits until everything submitted so far has run.
    pub(crate) async fn finished(&self) -> Result<()> {
        let (tx, rx) = oneshot();
        self.inner.queue.on_submitted_work_done(move || tx.send(()));
        self.poll_wait();
        self.stalled(&rx)?;
        rx.await;
        self.check_alive()
    }

    /// Maps `buffer` (MAP_READ, after its copy has been submitted) and returns its first `size`
    /// bytes.
    pub(crate) async fn read(&self, buffer: &wgpu::Buffer, size: u64) -> Result<Vec<u8>> {
        let (tx, rx) = oneshot();
        buffer.map_async(wgpu::MapMode::Read, ..size, move |r| tx.send(r));
        self.poll_wait();
        self.stalled(&rx)?;
        if let Err(e) = rx.await {
            return Err(self.gpu_error("reading results back", e));
        }
        self.check_alive()?;
        let bytes = buffer.get_mapped_range(..size).map_err(|e| self.gpu_error("reading results back", e))?.to_vec();
        buffer.unmap();
        Ok(bytes)
    }

    /// Natively the wait has returned: the callback has run, or is about to run in another
    /// thread's poll of the same device (callbacks fire in whichever thread polls), so poll again
    /// a bounded number of times; one that still has not run never will (the device stopped):
    /// report that instead of awaiting forever.
    fn stalled<T>(&self, rx: &Receiver<T>) -> Result<()> {
        let arrived = || rx.0.lock().unwrap_or_else(|e| e.into_inner()).value.is_some();
        if cfg!(target_arch = "wasm32") {
            return Ok(());
        }
        for _ in 0..STALL_POLLS {
            if arrived() {
                return Ok(());
            }
            self.check_alive()?;
            #[cfg(not(target_arch = "wasm32"))]
            std::thread::yield_now();
            self.poll_wait();
        }
        if arrived() {
            return Ok(());
        }
        Err(Error::Gpu("the GPU queue stopped before finishing its work".into()))
    }

    /// Natively, drives the device until the queue is idle (callbacks run in here); in the
    /// browser the device runs by itself and this does nothing.
    fn poll_wait(&self) {
        // A poll error means the device is gone; the lost flag reports it.
        if let Err(e) = self.inner.device.poll(wgpu::PollType::wait_indefinitely()) {
            if !self.is_lost() {
                self.inner.uncaptured.lock().unwrap_or_else(|e| e.into_inner()).push(format!("{e}"));
            }
        }
    }
}

/// How many times [`Gpu::stalled`] polls again for a callback another thread's poll may be firing.
const STALL_POLLS: usize = 10_000;

fn check_options(options: &GpuOptions) -> Result<()> {
    if options.chunk == 0 || options.chunk > 4096 {
        return Err(Error::Invalid(format!("GPU chunk size {} is out of range 1..=4096", options.chunk)));
    }
    Ok(())
}

/// A one-shot channel from a wgpu callback to the awaiting call.
fn oneshot<T>() -> (Sender<T>, Receiver<T>) {
    let slot = Arc::new(Mutex::new(Slot { value: None, waker: None }));
    (Sender(slot.clone()), Receiver(slot))
}

struct Slot<T> {
    value: Option<T>,
    waker: Option<Waker>,
}

struct Sender<T>(Arc<Mutex<Slot<T>>>);
struct Receiver<T>(Arc<Mutex<Slot<T>>>);

impl<T> Sender<T> {
    fn send(self, v: T) {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        s.value = Some(v);
        if let Some(w) = s.waker.take() {
            w.wake();
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<T> {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match s.value.take() {
            Some(v) => Poll::Ready(v),
            None => {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}
