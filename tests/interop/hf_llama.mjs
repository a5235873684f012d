// A Hugging Face Llama folder read the way transformers reads it, for the
// interop checks where transformers itself cannot run (it is Python, and this
// machine has no PyPI): config.json's fields, model.safetensors (F32 or BF16)
// by tensor name, and the forward pass of transformers' LlamaForCausalLM
// (modeling_llama: RMSNorm, rotary embedding with rotate_half, grouped-query
// attention, SwiGLU MLP, tied or separate head), in float64, written from the
// model's definition, not from plateau's code.
import fs from "node:fs";
import path from "node:path";

export function loadHfLlama(dir) {
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8"));
  const buf = fs.readFileSync(path.join(dir, "model.safetensors"));
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString("utf8"));
  const base = 8 + n;
  const tensor = (name) => {
    const t = header[name];
    if (!t) throw new Error(`${dir}/model.safetensors: no tensor ${name}`);
    const [begin, end] = t.data_offsets;
    const count = t.shape.reduce((a, b) => a * b, 1);
    const out = new Float64Array(count);
    if (t.dtype === "F32") {
      for (let i = 0; i < count; i++) out[i] = buf.readFloatLE(base + begin + 4 * i);
    } else if (t.dtype === "BF16") {
      const f = new Float32Array(1), u = new Uint32Array(f.buffer);
      for (let i = 0; i < count; i++) { u[0] = buf.readUInt16LE(base + begin + 2 * i) << 16; out[i] = f[0]; }
    } else throw new Error(`${name}: dtype ${t.dtype}`);
    if ((end - begin) !== count * (t.dtype === "F32" ? 4 : 2)) throw new Error(`${name}: size`);
    return { data: out, shape: t.shape };
  };
  const L = cfg.num_hidden_layers;
  const w = {
    embed: tensor("model.embed_tokens.weight"),
    norm: tensor("model.norm.weight"),
    layers: [],
  };
  w.head = cfg.tie_word_embeddings ? w.embed : tensor("lm_head.weight");
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}.`;
    w.layers.push({
      in_norm: tensor(p + "input_layernorm.weight"), post_norm: tensor(p + "post_attention_layernorm.weight"),
      q: tensor(p + "self_attn.q_proj.weight"), k: tensor(p + "self_attn.k_proj.weight"),
      v: tensor(p + "self_attn.v_proj.weight"), o: tensor(p + "self_attn.o_proj.weight"),
      gate: tensor(p + "mlp.gate_proj.weight"), up: tensor(p + "mlp.up_proj.weight"),
      down: tensor(p + "mlp.down_proj.weight"),
    });
  }
  return { cfg, w };
}

// y = x W^T for W [out, in] (nn.Linear without bias).
function linear(x, W) {
  const [out, inn] = W.shape, y = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    let s = 0;
    const row = o * inn;
    for (let i = 0; i < inn; i++) s += x[i] * W.data[row + i];
    y[o] = s;
  }
  return y;
}

function rmsnorm(x, w, eps) {
  let ss = 0;
  for (const v of x) ss += v * v;
  const r = 1 / Math.sqrt(ss / x.length + eps);
  return x.map((v, i) => w.data[i] * (v * r));
}

// One position of LlamaForCausalLM's forward: token id at the next position,
// attending over the keys and values kept in state from earlier positions
// (what transformers' cache holds); returns the logits after it.
export function newState(model) {
  return { pos: 0, k: model.w.layers.map(() => []), v: model.w.layers.map(() => []) };
}

export function step(model, state, id) {
  const { cfg, w } = model;
  const D = cfg.hidden_size, H = cfg.num_attention_heads, KV = cfg.num_key_value_heads;
  const hd = cfg.head_dim || D / H, eps = cfg.rms_norm_eps, theta = cfg.rope_theta, t = state.pos;
  // LlamaRotaryEmbedding: inv_freq[i] = 1 / theta^(2i/hd), emb = cat(freqs, freqs);
  // q*cos + rotate_half(q)*sin, rotate_half(x) = cat(-x2, x1)
  const rope = (vec, nHeads) => {
    const out = new Float64Array(vec.length);
    for (let h = 0; h < nHeads; h++)
      for (let j = 0; j < hd; j++) {
        const ang = t / Math.pow(theta, (2 * (j % (hd / 2))) / hd);
        const rot = j < hd / 2 ? -vec[h * hd + j + hd / 2] : vec[h * hd + j - hd / 2];
        out[h * hd + j] = vec[h * hd + j] * Math.cos(ang) + rot * Math.sin(ang);
      }
    return out;
  };
  let x = w.embed.data.slice(id * D, (id + 1) * D);
  w.layers.forEach((lw, l) => {
    const hN = rmsnorm(x, lw.in_norm, eps);
    const q = rope(linear(hN, lw.q), H);
    state.k[l].push(rope(linear(hN, lw.k), KV));
    state.v[l].push(linear(hN, lw.v));
    const ks = state.k[l], vs = state.v[l];
    const o = new Float64Array(H * hd);
    for (let h = 0; h < H; h++) {
      const g = Math.floor(h / (H / KV));   // repeat_kv: query head h reads key/value head g
      const s = ks.map((kk) => {
        let dot = 0;
        for (let j = 0; j < hd; j++) dot += q[h * hd + j] * kk[g * hd + j];
        return dot / Math.sqrt(hd);
      });
      const mx = Math.max(...s), e = s.map((z) => Math.exp(z - mx)), z = e.reduce((a, b) => a + b, 0);
      for (let u = 0; u < vs.length; u++)
        for (let j = 0; j < hd; j++) o[h * hd + j] += (e[u] / z) * vs[u][g * hd + j];
    }
    const att = linear(o, lw.o);
    x = x.map((val, i) => val + att[i]);
    const hn = rmsnorm(x, lw.post_norm, eps);
    const gt = linear(hn, lw.gate), up = linear(hn, lw.up);
    const mlp = linear(gt.map((gv, i) => (gv / (1 + Math.exp(-gv))) * up[i]), lw.down);   // silu(gate) * up
    x = x.map((val, i) => val + mlp[i]);
  });
  state.pos++;
  return linear(rmsnorm(x, w.norm, eps), w.head);
}

// Greedy decoding: the continuation's tokens and their log-probabilities.
export function greedy(model, promptIds, maxNew) {
  const st = newState(model), out = [], logprobs = [];
  let logits;
  for (const id of promptIds) logits = step(model, st, id);
  for (let n = 0; n < maxNew; n++) {
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
    const mx = logits[best];
    const lse = mx + Math.log(logits.reduce((a, z) => a + Math.exp(z - mx), 0));
    out.push(best);
    logprobs.push(logits[best] - lse);
    if (n + 1 < maxNew) logits = step(model, st, best);
  }
  return { ids: out, logprobs };
}
