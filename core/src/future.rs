//! Futures of the engines that score pairs: the CPU's complete at once, the browser's GPU only
//! when awaited (it maps buffers asynchronously). [`wait`] runs one to completion on this thread
//! where that is possible — natively always (blocking on the GPU with the `gpu` feature), in the
//! browser only for a future that needs no waiting; the browser awaits the others.
use crate::error::Result;
use alloc::boxed::Box;
use core::future::Future;
use core::pin::Pin;

/// A boxed future of a result: what an engine's calls return, so that an engine may compute at
/// once (a ready future) or wait for a device.
pub type Pending<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + 'a>>;

/// Runs `future` to completion on this thread (see the module docs).
pub fn wait<T>(future: impl Future<Output = Result<T>>) -> Result<T> {
    #[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
    {
        pollster::block_on(future)
    }
    #[cfg(not(all(feature = "gpu", not(target_arch = "wasm32"))))]
    {
        use core::task::{Context, Poll, Waker};
        let mut future = core::pin::pin!(future);
        match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(crate::error::Error::Invalid(
                "this engine waits for a device: call the asynchronous form (e.g. point_progressive_async)".into(),
            )),
        }
    }
}
