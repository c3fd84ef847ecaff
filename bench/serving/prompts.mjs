// The benchmark's prompts: plain English words, each one token (with its leading space) in
// byte-level BPE vocabularies such as Qwen's and Llama 3's, so a prompt of W words is W tokens
// (plus BOS where the model adds one). Prompt k is a pseudo-random sequence of words seeded by
// k: two prompts of a run share no prefix longer than a few tokens, so no prefix cache helps.
//
//   node prompts.mjs --all-words     prints every word once (run.sh checks the token count)
//   node prompts.mjs K W             prints prompt K of W words

import {pathToFileURL} from "node:url";

export const WORDS = `
time year people way day man thing woman life child world school state family student group
country problem hand part place case week company system program question work government
number night point home water room mother area money story fact month lot right study book
eye job word business issue side kind head house service friend father power hour game line
end member law car city community name president team minute idea body information back
parent face others level office door health person art war history party result change
morning reason research girl guy moment air teacher force education foot boy age policy
music market sense nation plan college interest death experience effect class control care
field development role effort rate heart drug show leader light voice wife police mind price
report decision son view relationship town road arm difference value building action model
season society tax director position player record paper space ground form event official
matter center couple site project activity star table need court oil situation cost industry
figure street image phone data picture practice piece land product doctor wall patient worker
news test movie north love support technology step baby computer type attention film tree
source organization hair window evidence population forest river garden stone bread green blue
red black white small large long short young old early late simple strong happy quick slow
warm cold open close walk run read write speak listen think know learn teach build move
`.trim().split(/\s+/);

/// splitmix64: a well-mixed 64-bit sequence from any seed (BigInt arithmetic, mod 2^64).
function* splitmix64(seed) {
  let state = BigInt.asUintN(64, BigInt(seed));
  for (;;) {
    state = BigInt.asUintN(64, state + 0x9e3779b97f4a7c15n);
    let z = state;
    z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n);
    z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d049bb133111ebn);
    yield z ^ (z >> 31n);
  }
}

/// Prompt `index` of `nWords` words, each with a leading space: " word word ...".
export function promptText(index, nWords) {
  const random = splitmix64(index);
  let text = "";
  for (let i = 0; i < nWords; ++i) text += " " + WORDS[Number(random.next().value % BigInt(WORDS.length))];
  return text;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  if (args.length === 1 && args[0] === "--all-words") {
    process.stdout.write(WORDS.map((w) => " " + w).join(""));
  } else if (args.length === 2 && /^\d+$/.test(args[0]) && /^[1-9]\d*$/.test(args[1])) {
    process.stdout.write(promptText(Number(args[0]), Number(args[1])));
  } else {
    console.error("usage: node prompts.mjs --all-words | node prompts.mjs K W");
    process.exit(2);
  }
}
