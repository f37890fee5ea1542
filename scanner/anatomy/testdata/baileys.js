// A Baileys session as a connected client leaves it, written once, offline:
// Baileys' own useMultiFileAuthState (the module @whiskeysockets/baileys,
// found through NODE_PATH) writes creds.json and a key file of every type
// of its SignalDataTypeMap, with ids of the shapes WhatsApp gives them (the
// JIDs with ':' and '/' that useMultiFileAuthState rewrites in file names).
// Usage: node baileys.js <session directory> [pre-keys]; it exits when done.
"use strict";
const crypto = require("crypto");
const { useMultiFileAuthState } = require("@whiskeysockets/baileys");

const dir = process.argv[2];
const preKeys = Number(process.argv[3] || 30);

(async () => {
  const { state, saveCreds } = await useMultiFileAuthState(dir);
  const keys = { "pre-key": {} };
  for (let k = 0; k < preKeys; k++) {
    keys["pre-key"][state.creds.nextPreKeyId++] = { public: crypto.randomBytes(32), private: crypto.randomBytes(32) };
  }
  keys["session"] = { "4915112345678:12@s.whatsapp.net.0": crypto.randomBytes(900) };
  keys["sender-key"] = { "120363041234567890@g.us::4915112345678:12::0": crypto.randomBytes(400) };
  keys["sender-key-memory"] = { "120363041234567890@g.us": { "4915112345678:12@s.whatsapp.net": true } };
  keys["app-state-sync-key"] = { "AAAAAOVd": { keyData: crypto.randomBytes(32).toString("base64"), timestamp: "1750000000123" } };
  keys["app-state-sync-version"] = { "regular_high": { version: 3, hash: crypto.randomBytes(128), indexValueMap: {} } };
  await state.keys.set(keys);
  await saveCreds();
})().catch(e => { console.error(e); process.exit(1); });
