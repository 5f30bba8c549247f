// SPDX-License-Identifier: MIT
//
// Not shipped: a typed use of the whole API that `npm run check-types`
// compiles against ukey.d.ts (strict). The @ts-expect-error lines must stay
// errors: they prove the types refuse misuse.
import { UKeyClient, UKeyError, SDK_VERSION, MIN_DAEMON_VERSION, DEFAULT_PORTS } from '@ukeyd/web-sdk';
import type { Cert, ConnectionChange, HelloResult, PendingRenewal, Reason } from './ukey.js';

async function hall(): Promise<void> {
  const uk = new UKeyClient({ lang: 'en', downloadUrl: 'https://hall.example.cn/ukeyd.deb', client: 'hall',
    minDaemonVersion: MIN_DAEMON_VERSION, ports: [...DEFAULT_PORTS], requestTimeoutMs: 10000 });
  const lna: 'granted' | 'denied' | 'prompt' | 'unsupported' = await UKeyClient.localNetworkAccess();
  void lna;
  const hello: HelloResult = await uk.connect();
  const v: string = hello.version + SDK_VERSION;
  void v;
  uk.on('tokenInserted', (t) => console.log(t.tokenId, t.reader, t.firmware?.length));
  uk.on('tokenRemoved', ({ tokenId, reader }) => console.log(tokenId, reader));
  uk.on('readerAdded', ({ reader }) => console.log(reader));
  uk.on('renewProgress', (p) => console.log(p.stage, p.renewalId ?? ''));
  uk.on('envChanged', (e) => console.log(e.cause, e.tokenId ?? e.reader ?? ''));
  const onConn = (c: ConnectionChange) => console.log(c.connected, c.reason, c.port);
  uk.on('connectionChanged', onConn).off('connectionChanged', onConn);
  // @ts-expect-error: no such event
  uk.on('tokenAdded', () => {});
  // @ts-expect-error: the payload of tokenRemoved has no serial
  uk.on('tokenRemoved', (x) => x.serial);

  const env = await uk.envCheck();
  for (const p of env.problems) console.log(p.code, p.message['zh-CN'], p.fix?.en, p.device?.vid);
  for (const d of env.usb.devices) console.log(d.vid, d.pid, d.kind, d.reader ?? '-');
  for (const t of env.tokens) console.log(t.tokenId, t.factsPending, t.facts?.pin?.retriesLeft);
  for (const m of env.pkcs11 ?? []) console.log(m.module, m.status, m.problem);
  const { tokens } = await uk.listTokens();
  const tokenId = tokens[0].tokenId;
  const info = await uk.tokenInfo(tokenId);
  const left: number | null = info.pin.retriesLeft;
  void left;
  const certs: Cert[] = (await uk.listCerts(tokenId)).certs;
  const cert = certs.find((c) => c.renewal.eligible && c.status !== 'expired');
  if (!cert) return;
  const { pem } = await uk.getCert(tokenId, cert.certId);
  void pem;
  await uk.pinStatus(tokenId);
  try {
    await uk.verifyPin(tokenId, '123456');
  } catch (e) {
    if (e instanceof UKeyError && e.reason === 'PIN_LAST_TRY') {
      await uk.verifyPin(tokenId, '123456', { confirmLastTry: true });
    } else if (e instanceof UKeyError) {
      const r: Reason = e.reason;
      const n: number | undefined = e.data.retriesLeft;
      console.log(r, n, e.message, e.messages.en, e.code, e.downloadUrl);
    }
  }
  // @ts-expect-error: the PIN is a string
  await uk.verifyPin(tokenId, 123456);
  await uk.changePin(tokenId, '123456', '654321');
  await uk.unblockPin(tokenId, '12345678', '123456');
  const b = await uk.renewBegin({ tokenId, certId: cert.certId, pin: '123456', challenge: 'x'.repeat(32) });
  // @ts-expect-error: challenge is required
  await uk.renewBegin({ tokenId, certId: cert.certId, pin: '123456' });
  const pending: PendingRenewal[] = (await uk.renewPending(tokenId)).renewals;
  if (pending.some((p) => p.state === 'installing' && p.certificate)) console.log('recover');
  const inst = await uk.renewInstall({ tokenId, pin: '123456', certificate: '-----BEGIN…', renewalId: b.renewalId },
    { timeoutMs: 60000 });
  if (inst.alreadyInstalled) console.log(inst.certId);
  await uk.renewCancel({ tokenId, renewalId: b.renewalId, pin: '123456' });
  const pong = await uk.call<{ pong: true }>('system.ping', undefined, { timeoutMs: 1000 });
  void pong;
  console.log(UKeyError.message('HELPER_NOT_RUNNING', 'en'), uk.connected, uk.daemon?.protocol, uk.port);
  uk.close();
}
void hall;
