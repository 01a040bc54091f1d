//! The llama model on the GPU: weights uploaded once, scratch activations for one chunk of
//! tokens, and the bind groups that connect them, all made at load.
use crate::error::{Error, Result};
use crate::gguf::Gguf;
use crate::gpu::attention::Geometry;
use crate::gpu::context::Gpu;
use crate::gpu::elementwise::Elementwise;
use crate::gpu::kernels::Kernels;
use crate::gpu::rope::{rope_table, Heads};
use crate::gpu::weights::{scratch, upload_f32, vector_f32, Matrix};
use crate::model::Config;
use alloc::{format, sync::Arc, vec::Vec};

/// The llama forward pass on the GPU, built from the same GGUF file and [`Config`] as
/// [`crate::model::Llama`]. Cheap to clone; caches made from it share its device.
#[derive(Clone)]
pub struct GpuLlama {
    pub(crate) engine: Arc<Engine>,
}

/// Activations of one chunk, `chunk` rows each (the head's rows: `chunk + 1`).
pub(crate) struct Scratch {
    /// The residual stream: block input, then block output.
    pub x: wgpu::Buffer,
    /// Normed block input (the attention's input).
    pub h: wgpu::Buffer,
    pub q: wgpu::Buffer,
    pub k: wgpu::Buffer,
    pub v: wgpu::Buffer,
    /// Attention context (the source of `attn_out`).
    pub ctx: wgpu::Buffer,
    /// `attn_out`.
    pub attn: wgpu::Buffer,
    /// The stream after the attention's skip connection.
    pub xmid: wgpu::Buffer,
    /// Normed MLP input (the source of `mlp_mid`).
    pub h2: wgpu::Buffer,
    pub gate: wgpu::Buffer,
    pub up: wgpu::Buffer,
    /// `mlp_mid` (the source of `mlp_out`).
    pub mid: wgpu::Buffer,
    /// `mlp_out`, where residual-site deltas also join.
    pub mlp: wgpu::Buffer,
    /// Final-normed rows the output head reads.
    pub head_in: wgpu::Buffer,
    pub logits: wgpu::Buffer,
}

pub(crate) struct Layer {
    pub q: (Matrix, Vec<wgpu::BindGroup>),
    pub k: (Matrix, Vec<wgpu::BindGroup>),
    pub v: (Matrix, Vec<wgpu::BindGroup>),
    pub o: (Matrix, Vec<wgpu::BindGroup>),
    pub gate: (Matrix, Vec<wgpu::BindGroup>),
    pub up: (Matrix, Vec<wgpu::BindGroup>),
    pub down: (Matrix, Vec<wgpu::BindGroup>),
    pub attn_norm: wgpu::BindGroup,
    pub ffn_norm: wgpu::BindGroup,
    pub rope_q: wgpu::BindGroup,
    pub add_attn: wgpu::BindGroup,
    pub swiglu: wgpu::BindGroup,
    pub add_mlp: wgpu::BindGroup,
}

pub(crate) struct Engine {
    pub gpu: Gpu,
    pub config: Config,
    pub k: Kernels,
    pub embed: Matrix,
    pub output: (Matrix, Vec<wgpu::BindGroup>),
    pub final_norm: wgpu::BindGroup,
    pub table: wgpu::Buffer,
    pub s: Scratch,
    pub layers: Vec<Layer>,
    /// Tokens per chunk.
    pub chunk: usize,
    /// Rows the logits buffer holds.
    pub head_rows: usize,
    /// Positions the GPU can hold (the model's context, or less when a buffer limit binds).
    pub positions: usize,
    pub geometry: Geometry,
}

impl GpuLlama {
    /// Uploads the model in `g` to `gpu`. Refuses, naming the problem, what the GPU kernels do
    /// not run: weight types other than Q4_1, Q8_0, F32, F16; partial rotary embeddings; head
    /// sizes over 256; a row of weights over the device's buffer limits.
    pub async fn load(gpu: &Gpu, g: &Gguf<'_>) -> Result<GpuLlama> {
        let c = Config::from_gguf(g)?;
        if c.rope_dim != c.head_dim {
            return Err(Error::UnsupportedModel(format!(
                "partial rotary embeddings (rope dim {} < head dim {})",
                c.rope_dim, c.head_dim
            )));
        }
        if c.head_dim > 256 || c.head_dim % 2 != 0 {
            return Err(Error::UnsupportedModel(format!(
                "head size {}: the GPU attention kernel takes even head sizes up to 256",
                c.head_dim
            )));
        }
        let k = Kernels::new(gpu).await?;
        let engine = gpu.scoped("uploading the model", || Engine::build(gpu, g, c, k)).await??;
        Ok(GpuLlama { engine: Arc::new(engine) })
    }

    /// The model's hyperparameters.
    pub fn config(&self) -> &Config {
        &self.engine.config
    }

    /// The device it runs on.
    pub fn gpu(&self) -> &Gpu {
        &self.engine.gpu
    }

    /// Positions one sequence can hold here: the model's context, or fewer when the device's
    /// buffer limits bind.
    pub fn max_positions(&self) -> usize {
        self.engine.positions
    }
}

impl Engine {
    fn build(gpu: &Gpu, g: &Gguf, c: Config, k: Kernels) -> Result<Engine> {
        let chunk = gpu.inner.chunk;
        let (limit, _) = gpu.limits().largest_binding();
        let kv = c.n_kv_heads * c.head_dim;
        let positions =
            c.context.min((limit / (kv as u64 * 4)) as usize).min((limit / (c.head_dim as u64 * 4)) as usize);
        if positions == 0 {
            return Err(Error::Gpu(format!(
                "one cached position ({} bytes) exceeds the device's max_storage_buffer_binding_size ({limit} bytes)",
                kv * 4
            )));
        }
        let head_rows = ((limit / (c.vocab as u64 * 4)) as usize).min(chunk + 1);
        if head_rows == 0 {
            return Err(Error::Gpu(format!(
                "one row of logits ({} bytes) exceeds the device's max_storage_buffer_binding_size ({limit} bytes)",
                c.vocab * 4
            )));
        }
        let buf = |floats: usize, name: &str| scratch(gpu, floats, name);
        let s = Scratch {
            x: buf(chunk * c.hidden, "x")?,
            h: buf(chunk * c.hidden, "h")?,
            q: buf(chunk * c.hidden, "q")?,
            k: buf(chunk * kv, "k")?,
            v: buf(chunk * kv, "v")?,
            ctx: buf(chunk * c.hidden, "ctx")?,
            attn: buf(chunk * c.hidden, "attn_out")?,
            xmid: buf(chunk * c.hidden, "x_mid")?,
            h2: buf(chunk * c.hidden, "h2")?,
            gate: buf(chunk * c.ffn, "gate")?,
            up: buf(chunk * c.ffn, "up")?,
            mid: buf(chunk * c.ffn, "mlp_mid")?,
            mlp: buf(chunk * c.hidden, "mlp_out")?,
            head_in: buf((chunk + 1) * c.hidden, "head_in")?,
            logits: buf(head_rows * c.vocab, "logits")?,
        };
        let embed = Matrix::load(gpu, g, "token_embd.weight", c.vocab, c.hidden)?;
        let output = match g.tensor("output.weight") {
            Ok(_) => Matrix::load(gpu, g, "output.weight", c.vocab, c.hidden)?,
            Err(_) => embed.clone(),
        };
        let output_groups = k.matmul.bind(gpu, &output, &s.head_in, &s.logits);
        let out_norm = upload_f32(gpu, &vector_f32(g, "output_norm.weight", c.hidden)?, "output_norm");
        let final_norm = k.norm.bind(gpu, &s.x, &out_norm, &s.head_in);
        let table = upload_f32(gpu, &rope_table(positions, c.head_dim, c.rope_base), "rope");
        let layers = (0..c.n_layers).map(|i| Layer::load(gpu, g, &c, &k, &s, &table, i)).collect::<Result<Vec<_>>>()?;
        let geometry = Geometry { heads: c.n_heads as u32, kv_heads: c.n_kv_heads as u32, head_dim: c.head_dim as u32 };
        Ok(Engine {
            gpu: gpu.clone(),
            output: (output, output_groups),
            final_norm,
            table,
            embed,
            s,
            layers,
            chunk,
            head_rows,
            positions,
            geometry,
            config: c,
            k,
        })
    }

    pub fn q_heads(&self) -> Heads {
        Heads { heads: self.geometry.heads, head_dim: self.geometry.head_dim }
    }

    pub fn kv_heads(&self) -> Heads {
        Heads { heads: self.geometry.kv_heads, head_dim: self.geometry.head_dim }
    }
}

impl Layer {
    fn load(
        gpu: &Gpu, g: &Gguf, c: &Config, k: &Kernels, s: &Scratch, table: &wgpu::Buffer, i: usize,
    ) -> Result<Layer> {
        let kv = c.n_kv_heads * c.head_dim;
        let lin = |name: &str, out: usize, inp: usize, x: &wgpu::Buffer, y: &wgpu::Buffer| -> Result<_> {
            let m = Matrix::load(gpu, g, &format!("blk.{i}.{name}.weight"), out, inp)?;
            let groups = k.matmul.bind(gpu, &m, x, y);
            Ok((m, groups))
        };
        let norm = |name: &str, x: &wgpu::Buffer, y: &wgpu::Buffer| -> Result<_> {
            let w = upload_f32(gpu, &vector_f32(g, &format!("blk.{i}.{name}.weight"), c.hidden)?, name);
            Ok(k.norm.bind(gpu, x, &w, y))
        };
        let ew = &k.elementwise;
        Ok(Layer {
            q: lin("attn_q", c.hidden, c.hidden, &s.h, &s.q)?,
            k: lin("attn_k", kv, c.hidden, &s.h, &s.k)?,
            v: lin("attn_v", kv, c.hidden, &s.h, &s.v)?,
            o: lin("attn_output", c.hidden, c.hidden, &s.ctx, &s.attn)?,
            gate: lin("ffn_gate", c.ffn, c.hidden, &s.h2, &s.gate)?,
            up: lin("ffn_up", c.ffn, c.hidden, &s.h2, &s.up)?,
            down: lin("ffn_down", c.hidden, c.ffn, &s.mid, &s.mlp)?,
            attn_norm: norm("attn_norm", &s.x, &s.h)?,
            ffn_norm: norm("ffn_norm", &s.xmid, &s.h2)?,
            rope_q: k.rope.bind_q(gpu, table, &s.q),
            add_attn: ew.bind(gpu, Elementwise::Add, &s.attn, &s.x, &s.xmid),
            swiglu: ew.bind(gpu, Elementwise::Swiglu, &s.gate, &s.up, &s.mid),
            add_mlp: ew.bind(gpu, Elementwise::Add, &s.mlp, &s.xmid, &s.x),
        })
    }
}
