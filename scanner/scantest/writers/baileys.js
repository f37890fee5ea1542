// A Baileys session written without pause, offline: Baileys' own
// useMultiFileAuthState (the module @whiskeysockets/baileys, found through
// NODE_PATH) writes its creds and keys files as a connected client does,
// each rewritten in place with writeFile: signal sessions and sender keys
// updated several times a second, pre-keys used up, creds saved.
// Usage: node baileys.js <session directory>; it runs until killed.
"use strict";
const crypto = require("crypto");
const { useMultiFileAuthState } = require("@whiskeysockets/baileys");

const dir = process.argv[2];
const sleep = ms => new Promise(r => setTimeout(r, ms));

(async () => {
  const { state, saveCreds } = await useMultiFileAuthState(dir);
  // Registration: Baileys uploads 30 pre-keys, and the first app state
  // sync brings its keys; both stay until used, most of them for days.
  const keys = { "pre-key": {}, "app-state-sync-key": {} };
  for (let k = 0; k < 30; k++) {
    keys["pre-key"][state.creds.nextPreKeyId++] = { public: crypto.randomBytes(32), private: crypto.randomBytes(32) };
  }
  keys["app-state-sync-key"]["AAAAAB" + crypto.randomBytes(3).toString("hex")] = { keyData: crypto.randomBytes(32).toString("base64") };
  await state.keys.set(keys);
  await saveCreds();
  let used = 1;
  for (let i = 0; ; i++) {
    const peer = i % 12;
    const record = { _sessions: { [crypto.randomBytes(33).toString("base64")]: {
      currentRatchet: { rootKey: crypto.randomBytes(32 + (i % 7) * 100) },
      chains: Object.fromEntries(Array.from({ length: 1 + (i % 5) }, (_, k) => [k, crypto.randomBytes(200)])),
    } } };
    const data = {
      session: { [`${peer}@s.whatsapp.net.0`]: Buffer.from(JSON.stringify(record)) },
      "sender-key": { [`group${i % 4}@g.us::${peer}::0`]: crypto.randomBytes(300 + (i % 9) * 50) },
    };
    if (i % 20 === 19) {
      data["pre-key"] = { [used++]: null }; // a new contact used one up: deleted
    }
    await state.keys.set(data);
    if (i % 5 === 0) {
      state.creds.lastAccountSyncTimestamp = Date.now();
      await saveCreds();
    }
    await sleep(100);
  }
})().catch(e => { console.error(e); process.exit(1); });
