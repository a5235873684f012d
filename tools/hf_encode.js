// Encodes a text file with Hugging Face `tokenizers` (its Rust core, through
// the Node bindings) and prints the ids on one line, as `plateau tokenizer
// encode` does, so the two can be compared byte for byte:
//
//   npm install --prefix /tmp/hf tokenizers
//   NODE_PATH=/tmp/hf/node_modules node tools/hf_encode.js tok.json text.txt > hf.ids
//   ./plateau tokenizer encode --tokenizer tok.json text.txt > plateau.ids
//   cmp hf.ids plateau.ids
//
// A tool for checking compatibility by hand; nothing in `make test` uses it.
const { Tokenizer } = require('tokenizers');
const fs = require('fs');

(async () => {
  const [tokPath, textPath] = process.argv.slice(2);
  if (!tokPath || !textPath) {
    process.stderr.write('usage: node tools/hf_encode.js tokenizer.json text.txt\n');
    process.exit(2);
  }
  const tok = Tokenizer.fromFile(tokPath);
  const text = fs.readFileSync(textPath, 'utf8');
  const enc = await tok.encode(text, null, { addSpecialTokens: false });
  const ids = enc.getIds();
  process.stdout.write(ids.join(' ') + '\n');
  const back = await tok.decode(ids, false);
  process.stderr.write(`${ids.length} tokens; decodes back to the text: ${back === text}\n`);
})();
