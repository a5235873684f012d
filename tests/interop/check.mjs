// The interop checks of run.sh: plateau's exported files against the npm
// clients. Prints one line per check with its figures, the versions used,
// and exits non-zero if any check fails.
//
//   node check.mjs --plateau BIN --work DIR --ckpt CKPT --world WORLD
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { gguf } from "@huggingface/gguf";
import { Template } from "@huggingface/jinja";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import tokenizers from "tokenizers";

import { greedy, loadHfLlama } from "./hf_llama.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const arg = (name) => {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0 || i + 1 >= process.argv.length) throw new Error(`missing --${name}`);
  return process.argv[i + 1];
};
const P = arg("plateau"), work = arg("work"), ckpt = arg("ckpt"), world = arg("world");
const MAX_NEW = 24;   // tokens per prompt, through <|endoftext|> (generate --no-stop)
// llama.cpp computes in its own order (and f32 accumulations differ from
// plateau's BLAS ones), so log-probabilities agree to rounding, not bits.
// Measured: 1.1e-3 with f32 weights and f32 keys/values.
const LOGPROB_TOLERANCE = 5e-3;

let failures = 0;
function check(name, ok, figures) {
  console.log(`${ok ? "ok  " : "FAIL"} ${name}: ${figures}`);
  if (!ok) failures++;
}
const plateau = (...args) => execFileSync(P, args, { encoding: "utf8", maxBuffer: 1 << 28 });
const jsonl = (text) => text.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
const readJson = (p) => JSON.parse(fs.readFileSync(p, "utf8"));
const sameIds = (a, b) => a.length === b.length && a.every((x, i) => x === Number(b[i]));
const version = (pkg) => readJson(path.join(here, "node_modules", pkg, "package.json")).version;

const hf = path.join(work, "hf");
const config = readJson(path.join(hf, "config.json"));
const tokConfig = readJson(path.join(hf, "tokenizer_config.json"));
const tokJson = readJson(path.join(hf, "tokenizer.json"));
const eot = tokConfig.eos_token;
const eotId = Number(Object.keys(tokConfig.added_tokens_decoder).find((k) => tokConfig.added_tokens_decoder[k].content === eot));

console.log(`interop: node ${process.version}, node-llama-cpp ${version("node-llama-cpp")}, ` +
  `@huggingface/jinja ${version("@huggingface/jinja")}, tokenizers ${version("tokenizers")}, ` +
  `@huggingface/gguf ${version("@huggingface/gguf")}`);

// ---- the Hugging Face folder ------------------------------------------------
{
  const files = ["model.safetensors", "config.json", "generation_config.json", "tokenizer.json",
    "tokenizer_config.json", "special_tokens_map.json"];
  const missing = files.filter((f) => !fs.existsSync(path.join(hf, f)));
  check("hf folder", missing.length === 0, missing.length ? `missing ${missing.join(", ")}` : `${files.length} files`);
  const gen = readJson(path.join(hf, "generation_config.json"));
  const map = readJson(path.join(hf, "special_tokens_map.json"));
  check("hf special tokens", config.eos_token_id === eotId && gen.eos_token_id === eotId && map.eos_token === eot &&
    config.architectures[0] === "LlamaForCausalLM", `eos ${eot} = id ${eotId} in config, generation config and map`);
  // The safetensors header names every tensor with its dtype and shape; the
  // f32 folder's weights are the checkpoint's file byte for byte.
  for (const [dir, dtype, bytes] of [["hf", "F32", 4], ["hf-bf16", "BF16", 2]]) {
    const buf = fs.readFileSync(path.join(work, dir, "model.safetensors"));
    const n = Number(buf.readBigUInt64LE(0));
    const header = JSON.parse(buf.subarray(8, 8 + n).toString("utf8"));
    const names = Object.keys(header).filter((k) => k !== "__metadata__");
    const L = config.num_hidden_layers, want = 2 + 9 * L + (config.tie_word_embeddings ? 0 : 1);
    const emb = header["model.embed_tokens.weight"];
    const dataBytes = names.reduce((s, k) => s + header[k].shape.reduce((a, b) => a * b, 1) * bytes, 0);
    check(`hf ${dir}/model.safetensors`, names.length === want && names.every((k) => header[k].dtype === dtype) &&
      emb.shape[0] === config.vocab_size && emb.shape[1] === config.hidden_size && buf.length === 8 + n + dataBytes,
      `${names.length} tensors of ${want}, all ${dtype}, embed [${emb.shape}], ${buf.length} bytes`);
  }
  const ckptWeights = fs.readFileSync(path.join(fs.realpathSync(ckpt), latestStep(ckpt), "model.safetensors"));
  check("hf f32 weights", Buffer.compare(ckptWeights, fs.readFileSync(path.join(hf, "model.safetensors"))) === 0,
    "model.safetensors equals the checkpoint's");
}

function latestStep(dir) {
  if (fs.existsSync(path.join(dir, "checksums.json"))) return ".";
  return fs.readdirSync(dir).filter((d) => /^step-\d+$/.test(d)).sort().pop();
}

// ---- @huggingface/jinja: the chat template ---------------------------------
const convFile = path.join(here, "conversations.jsonl");
const conversations = jsonl(fs.readFileSync(convFile, "utf8"));
const full = jsonl(plateau("tokenizer", "encode", "--tokenizer", path.join(hf, "tokenizer.json"), "--chat", convFile));
const prompts = jsonl(plateau("tokenizer", "encode", "--tokenizer", path.join(hf, "tokenizer.json"), "--chat", convFile,
  "--generation-prompt"));
{
  const template = new Template(tokConfig.chat_template);
  let equal = 0, total = 0;
  conversations.forEach((c, i) => {
    for (const [gen, want] of [[false, full[i].text], [true, prompts[i].text]]) {
      const got = template.render({ messages: c.messages, add_generation_prompt: gen, bos_token: eot, eos_token: eot });
      total++;
      if (got === want) equal++;
      else console.log(`  conversation ${i + 1}${gen ? " (generation prompt)" : ""}: jinja ${JSON.stringify(got)}, plateau ${JSON.stringify(want)}`);
    }
  });
  check("jinja chat_template", equal === total && conversations.length === 10,
    `${equal}/${total} renderings equal plateau's text (${conversations.length} conversations, with and without the generation prompt)`);
}

// ---- tokenizers: the world's texts and the rendered conversations -----------
{
  const tok = tokenizers.Tokenizer.fromFile(path.join(hf, "tokenizer.json"));
  const encode = async (text) => (await tok.encode(text, null, { addSpecialTokens: false })).getIds();
  const compare = async (items, name) => {
    let equal = 0, tokens = 0, tokensEqual = 0;
    for (const it of items) {
      const ids = await encode(it.text);
      tokens += it.ids.length;
      if (sameIds(it.ids, ids)) { equal++; tokensEqual += it.ids.length; }
    }
    check(`tokenizers ${name}`, equal === items.length,
      `${equal}/${items.length} texts encode to plateau's ids (${tokensEqual}/${tokens} tokens in equal texts)`);
  };
  const docs = jsonl(plateau("tokenizer", "encode", "--tokenizer", path.join(hf, "tokenizer.json"), "--docs",
    path.join(world, "pretrain.txt")));
  await compare(docs, "world pre-training documents");
  const sft = jsonl(plateau("tokenizer", "encode", "--tokenizer", path.join(hf, "tokenizer.json"), "--chat",
    path.join(world, "sft_train.jsonl")));
  await compare(sft, "world SFT conversations (rendered text)");
  await compare([...full, ...prompts], "the 10 test conversations (rendered text)");
  const specials = Object.entries(tokConfig.added_tokens_decoder);
  check("tokenizers special tokens", specials.every(([id, t]) => tok.tokenToId(t.content) === Number(id)),
    specials.map(([id, t]) => `${t.content}=${id}`).join(" "));
}

// ---- @huggingface/gguf: the metadata -----------------------------------------
for (const [file, matType] of [["model-f32.gguf", 0], ["model-bf16.gguf", 30]]) {
  const { metadata: m, tensorInfos } = await gguf(path.join(work, file), { allowLocalFile: true });
  const vocab = Object.entries(tokJson.model.vocab);
  const tokens = m["tokenizer.ggml.tokens"];
  const vocabEqual = vocab.every(([s, id]) => tokens[id] === s) &&
    tokJson.added_tokens.every((t) => tokens[t.id] === t.content);
  const L = config.num_hidden_layers, want = 2 + 9 * L + (config.tie_word_embeddings ? 0 : 1);
  const emb = tensorInfos.find((t) => t.name === "token_embd.weight");
  const typesOk = tensorInfos.every((t) => t.dtype === (t.shape.length === 1 ? 0 : matType));
  const ok = m.version === 3 && m["general.architecture"] === "llama" &&
    m["llama.block_count"] === L && m["llama.embedding_length"] === config.hidden_size &&
    m["llama.feed_forward_length"] === config.intermediate_size &&
    m["llama.attention.head_count"] === config.num_attention_heads &&
    m["llama.attention.head_count_kv"] === config.num_key_value_heads &&
    m["llama.context_length"] === config.max_position_embeddings &&
    Math.abs(m["llama.rope.freq_base"] - config.rope_theta) < 1e-3 &&
    m["tokenizer.ggml.model"] === "gpt2" && tokens.length === config.vocab_size && vocabEqual &&
    m["tokenizer.ggml.merges"].length === tokJson.model.merges.length &&
    m["tokenizer.ggml.eos_token_id"] === eotId && m["tokenizer.ggml.bos_token_id"] === eotId &&
    m["tokenizer.chat_template"] === tokConfig.chat_template && tensorInfos.length === want &&
    Number(emb.shape[0]) === config.hidden_size && Number(emb.shape[1]) === config.vocab_size && typesOk;
  check(`gguf ${file}`, ok, `v${m.version} ${m["general.architecture"]}, ${L} blocks, ${tokens.length} tokens ` +
    `(${vocab.length} vocab entries and ${tokJson.added_tokens.length} special tokens as in tokenizer.json), ${m["tokenizer.ggml.merges"].length} merges, ` +
    `${tensorInfos.length} tensors, matrices of ggml type ${matType}, chat template equal`);
}

// ---- plateau's greedy decoding of 16 prompts: the reference ------------------
const cases = jsonl(fs.readFileSync(path.join(here, "prompts.jsonl"), "utf8"));
const refs = cases.map((c) => JSON.parse(plateau("generate", "--ckpt", ckpt, "--prompt", c.prompt, "--max-new",
  String(MAX_NEW), "--no-stop", "--json", ...(c.chat ? ["--chat"] : []))));

// Tokens equal (longest equal prefix per prompt) and the largest log-prob
// difference over it, for one decoder's results against refs.
function compareDecodes(results) {
  let same = 0, tokensEqual = 0, tokensCompared = 0, maxDiff = 0;
  results.forEach((got, i) => {
    const ref = refs[i];
    let k = 0;
    while (k < Math.min(got.ids.length, ref.ids.length) && got.ids[k] === ref.ids[k]) k++;
    for (let j = 0; j < k; j++) maxDiff = Math.max(maxDiff, Math.abs(got.logprobs[j] - ref.logprobs[j]));
    tokensEqual += k;
    tokensCompared += Math.max(got.ids.length, ref.ids.length);
    if (k === got.ids.length && k === ref.ids.length) same++;
    else console.log(`  prompt ${JSON.stringify(cases[i].prompt)}: got ${JSON.stringify(got.ids)}, plateau ${JSON.stringify(ref.ids)}`);
  });
  return { same, maxDiff, figures: `${same}/${cases.length} continuations equal, ${tokensEqual}/${tokensCompared} tokens equal, ` +
    `largest log-prob difference ${maxDiff.toExponential(2)} over the equal prefix` };
}

// ---- the HF folder through transformers' Llama definition (hf_llama.mjs) ----
// transformers (Python) cannot run here; this reads config.json and
// model.safetensors as LlamaForCausalLM does and runs its forward in float64.
for (const dir of ["hf", "hf-bf16"]) {
  const model = loadHfLlama(path.join(work, dir));
  const r = compareDecodes(refs.map((ref) => greedy(model, ref.prompt_ids, MAX_NEW)));
  if (dir === "hf") check("hf folder by LlamaForCausalLM's definition (float64)", r.same === cases.length && r.maxDiff < 1e-4, r.figures);
  else console.log(`info hf-bf16 folder by LlamaForCausalLM's definition (weights rounded to bf16): ${r.figures}`);
}

// ---- node-llama-cpp: greedy decoding of 16 prompts ---------------------------
{
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  const template = new Template(tokConfig.chat_template);
  for (const file of ["model-f32.gguf", "model-bf16.gguf"]) {
    const model = await llama.loadModel({ modelPath: path.join(work, file) });
    const context = await model.createContext({
      contextSize: config.max_position_embeddings, threads: 1,
      experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32", // plateau keeps keys and values in f32
    });
    const seq = context.getSequence();
    const bf16 = file.includes("bf16");
    let promptsEqual = 0;
    const results = [];
    for (const [i, c] of cases.entries()) {
      const ref = refs[i];
      // llama.cpp's own tokenization of the prompt: BOS + text, or the
      // template's rendering with its special tokens.
      const llamaPrompt = c.chat
        ? model.tokenize(template.render({ messages: [{ role: "user", content: c.prompt }], add_generation_prompt: true }), true)
        : [model.tokens.bos, ...model.tokenize(c.prompt, false)];
      if (sameIds(ref.prompt_ids, llamaPrompt)) promptsEqual++;
      await seq.clearHistory();
      const got = { ids: [], logprobs: [] };
      for await (const r of seq.evaluateWithMetadata(ref.prompt_ids, { confidence: true }, { temperature: 0, yieldEogToken: true })) {
        got.ids.push(r.token);
        got.logprobs.push(Math.log(r.confidence));
        if (got.ids.length >= MAX_NEW) break;
      }
      results.push(got);
    }
    const r = compareDecodes(results);
    const same = r.same, maxDiff = r.maxDiff;
    const figures = `${r.figures}, ${promptsEqual}/${cases.length} prompts tokenized by llama.cpp to plateau's ids`;
    // bf16 weights are a rounding of plateau's: decoding is reported, not required to match.
    if (bf16) console.log(`info llama.cpp ${file} (weights rounded to bf16): ${figures}`);
    else check(`llama.cpp ${file}`, same === cases.length && promptsEqual === cases.length && maxDiff < LOGPROB_TOLERANCE, figures);
    await context.dispose();
    await model.dispose();
  }
}

console.log(failures ? `interop: ${failures} check(s) failed` : "interop: all checks passed");
process.exit(failures ? 1 : 0);
