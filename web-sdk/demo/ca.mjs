// SPDX-License-Identifier: MIT
//
// The demo hall's certificate authority and order book. A real CA runs its
// issuance behind the hall; the demo plays it with `openssl ca` and a test
// CA made on first start, so the renewal can be walked end to end:
//
//   order (a random challenge per order) → request (CSR + proof, checked
//   against the old certificate) → payment (mock) → issuance → the issued
//   certificate handed out as often as the hall asks (异常恢复) → installed.
//
// State lives in one directory: `ca/` (key, certificate, openssl's index and
// serial) and `orders.json`, rewritten atomically (temp file, fsync, rename,
// fsync of the directory) after every change, so a restart loses nothing.
// Every input is checked here; a refusal is a HallError with a stable code
// and a zh-CN message the page shows as is.
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const ORDER_ID = /^R\d{8}[0-9A-F]{8}$/;
const CERT_ID = /^[0-9a-f]{64}$/;
const RENEWAL_ID = /^[0-9a-f]{32}$/;
const TOKEN_ID = /^[a-z0-9]{1,16}:[\x21-\x7e]{1,64}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const PROOF_ALGORITHMS = { ec: 'ecdsa-with-SHA256', rsa: 'sha256WithRSAEncryption' };
const MAX_PEM = 16 * 1024;

/** A refusal the page can show: `code` is stable, `message` is zh-CN. */
export class HallError extends Error {
  constructor(status, code, message, extra = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.extra = extra;
  }
}

const bad = (code, message, field) => new HallError(400, code, message, field ? { field } : {});

function run(cmd, args, { input, timeout = 30000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout, maxBuffer: 1 << 20, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err) {
          err.stderr = stderr;
          reject(err);
        } else {
          resolve({ stdout, stderr });
        }
      });
    if (input !== undefined) child.stdin.end(input);
  });
}

// Writes `data` to `file` so that a crash leaves the old or the new
// contents, never a mix: temp file, fsync, rename, fsync of the directory.
export function writeAtomic(file, data, mode = 0o600) {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
  const fd = fs.openSync(tmp, 'w', mode);
  try {
    fs.writeSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  const dfd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(dfd);
  } finally {
    fs.closeSync(dfd);
  }
}

// openssl's -startdate/-enddate format (UTCTime, valid to 2049)
function asn1Time(date) {
  const p = (n) => String(n).padStart(2, '0');
  return `${p(date.getUTCFullYear() % 100)}${p(date.getUTCMonth() + 1)}${p(date.getUTCDate())}` +
    `${p(date.getUTCHours())}${p(date.getUTCMinutes())}${p(date.getUTCSeconds())}Z`;
}

// `months` calendar months added to a date, clamped to the month's end
// (31 March minus one month is 28/29 February): the hall's renewal rule.
export function addMonths(date, months) {
  const d = new Date(date.getTime());
  const day = d.getUTCDate();
  d.setUTCDate(1);
  d.setUTCMonth(d.getUTCMonth() + months);
  const last = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0)).getUTCDate();
  d.setUTCDate(Math.min(day, last));
  return d;
}

function pemToDer(pem, label) {
  const re = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`);
  const m = re.exec(pem);
  if (!m) return null;
  const b64 = m[1].replace(/\s+/g, '');
  if (!BASE64.test(b64)) return null;
  return Buffer.from(b64, 'base64');
}

function parseCertificate(pem, field) {
  if (typeof pem !== 'string' || pem.length > MAX_PEM) {
    throw bad('INVALID_CERTIFICATE', '证书格式不正确（应为 PEM 格式）。', field);
  }
  const der = pemToDer(pem, 'CERTIFICATE');
  if (!der) throw bad('INVALID_CERTIFICATE', '证书格式不正确（应为 PEM 格式）。', field);
  try {
    return { x509: new crypto.X509Certificate(der), der };
  } catch {
    throw bad('INVALID_CERTIFICATE', '无法解析证书。', field);
  }
}

function str(body, field, { re, max = 256, optional = false } = {}) {
  const v = body[field];
  if (v === undefined && optional) return undefined;
  if (typeof v !== 'string' || v.length === 0) {
    throw bad('MISSING_FIELD', `缺少字段 ${field}（应为字符串）。`, field);
  }
  if (v.length > max || (re && !re.test(v))) {
    throw bad('INVALID_FIELD', `字段 ${field} 的格式不正确。`, field);
  }
  return v;
}

function onlyFields(body, allowed) {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw bad('INVALID_BODY', '请求内容应为 JSON 对象。');
  }
  for (const k of Object.keys(body)) {
    if (!allowed.includes(k)) throw bad('UNKNOWN_FIELD', `不认识的字段 ${k}。`, k);
  }
}

const orderNotFound = () => new HallError(404, 'ORDER_NOT_FOUND', '订单不存在。');

/**
 * The CA and its orders. `open` makes the test CA on first use; every
 * method that changes state persists it before it resolves.
 */
export class HallCA {
  /**
   * @param {string} stateDir
   * @param {{price?: number, caSubject?: string, now?: () => Date}} [opts]
   */
  constructor(stateDir, opts = {}) {
    this.dir = path.resolve(stateDir);
    this.caDir = path.join(this.dir, 'ca');
    this.ordersFile = path.join(this.dir, 'orders.json');
    this.price = opts.price ?? 20000; // fen: ¥200.00
    this.caSubject = opts.caSubject ?? '/CN=示范数字证书认证中心（测试）/O=ukeyd 演示/C=CN';
    this.now = opts.now ?? (() => new Date());
    this.orders = new Map();
    // openssl ca keeps its index and serial in files: one issuance at a time
    this.queue = Promise.resolve();
  }

  async open() {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    await this.ensureCA();
    this.caPem = fs.readFileSync(path.join(this.caDir, 'ca.pem'), 'utf8');
    this.caCert = new crypto.X509Certificate(this.caPem);
    this.load();
    return this;
  }

  // The test CA: made once, with an `openssl ca` configuration that copies
  // the checked CSR's subject and sets the extensions of a signing
  // certificate.
  async ensureCA() {
    const dir = this.caDir;
    const cnf = path.join(dir, 'ca.cnf');
    if (fs.existsSync(path.join(dir, 'ca.pem')) && fs.existsSync(cnf)) return;
    fs.mkdirSync(path.join(dir, 'newcerts'), { recursive: true, mode: 0o700 });
    fs.writeFileSync(path.join(dir, 'index.txt'), '');
    fs.writeFileSync(path.join(dir, 'serial'), `${crypto.randomBytes(8).toString('hex').toUpperCase()}\n`);
    fs.writeFileSync(cnf, [
      '# the demo hall\'s test CA (made by web-sdk/demo/ca.mjs)',
      '[ca]', 'default_ca = hall', '[hall]',
      `dir = ${dir}`,
      'database = $dir/index.txt', 'new_certs_dir = $dir/newcerts', 'serial = $dir/serial',
      'certificate = $dir/ca.pem', 'private_key = $dir/ca.key',
      'default_md = sha256', 'policy = any', 'unique_subject = no', 'email_in_dn = no',
      'copy_extensions = none', 'x509_extensions = leaf', 'default_days = 365',
      'string_mask = utf8only', 'utf8 = yes',
      '[any]', 'countryName = optional', 'stateOrProvinceName = optional',
      'localityName = optional', 'organizationName = optional',
      'organizationalUnitName = optional', 'commonName = supplied', 'serialNumber = optional',
      '[leaf]', 'basicConstraints = CA:false',
      'keyUsage = critical, digitalSignature, nonRepudiation, keyEncipherment',
      'extendedKeyUsage = clientAuth, emailProtection',
      'subjectKeyIdentifier = hash', 'authorityKeyIdentifier = keyid', '',
    ].join('\n'));
    await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256',
      '-keyout', path.join(dir, 'ca.key'), '-out', path.join(dir, 'ca.pem.tmp'),
      '-days', '3650', '-utf8', '-subj', this.caSubject,
      '-addext', 'basicConstraints=critical,CA:true',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    fs.chmodSync(path.join(dir, 'ca.key'), 0o600);
    fs.renameSync(path.join(dir, 'ca.pem.tmp'), path.join(dir, 'ca.pem'));
  }

  load() {
    if (!fs.existsSync(this.ordersFile)) return;
    const doc = JSON.parse(fs.readFileSync(this.ordersFile, 'utf8'));
    if (!doc || doc.version !== 1 || typeof doc.orders !== 'object') {
      throw new Error(`${this.ordersFile}: not an order book of version 1`);
    }
    for (const o of Object.values(doc.orders)) this.orders.set(o.id, o);
  }

  save() {
    const orders = Object.fromEntries([...this.orders].map(([id, o]) => [id, o]));
    writeAtomic(this.ordersFile, `${JSON.stringify({ version: 1, orders }, null, 1)}\n`);
  }

  get(id) {
    if (typeof id !== 'string' || !ORDER_ID.test(id)) throw orderNotFound();
    const o = this.orders.get(id);
    if (!o) throw orderNotFound();
    return o;
  }

  // What the page may see of an order (everything but internal notes).
  view(o) {
    return {
      id: o.id, status: o.status, createdAt: o.createdAt, tokenId: o.tokenId,
      oldCertId: o.oldCertId, subject: o.subject, commonName: o.commonName,
      organization: o.organization, oldNotAfter: o.oldNotAfter, price: o.price,
      challenge: o.challenge, renewalId: o.renewalId ?? null, requestedAt: o.requestedAt ?? null,
      paidAt: o.paidAt ?? null, payment: o.payment ?? null, issuedAt: o.issuedAt ?? null,
      newNotBefore: o.newNotBefore ?? null, newNotAfter: o.newNotAfter ?? null,
      newCertId: o.newCertId ?? null, installedAt: o.installedAt ?? null,
      plannedNotAfter: o.plannedNotAfter, cancelledAt: o.cancelledAt ?? null,
    };
  }

  // The renewal rule the CA applies itself (the daemon applies the same):
  // from one calendar month before notAfter until one year after it.
  window(x509) {
    const notAfter = new Date(x509.validTo);
    return { opensAt: addMonths(notAfter, -1), closesAt: addMonths(notAfter, 12), notAfter };
  }

  issuedByUs(x509) {
    return x509.checkIssued(this.caCert) && x509.verify(this.caCert.publicKey);
  }

  /** All orders for an old certificate, newest first. */
  findByCert(certId) {
    if (typeof certId !== 'string' || !CERT_ID.test(certId)) {
      throw bad('INVALID_FIELD', '证书编号的格式不正确。', 'certId');
    }
    return [...this.orders.values()].filter((o) => o.oldCertId === certId)
      .sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1));
  }

  findByRenewal(renewalId) {
    if (typeof renewalId !== 'string' || !RENEWAL_ID.test(renewalId)) {
      throw bad('INVALID_FIELD', '更新编号的格式不正确。', 'renewalId');
    }
    return [...this.orders.values()].filter((o) => o.renewalId === renewalId);
  }

  /**
   * A new order for renewing `certificate` (the old one, PEM). An open
   * order for the same certificate is returned instead (`existing`), so a
   * page that comes back carries on where it stopped.
   */
  async createOrder(body) {
    onlyFields(body, ['tokenId', 'certId', 'certificate']);
    const tokenId = str(body, 'tokenId', { re: TOKEN_ID, max: 96 });
    const certId = str(body, 'certId', { re: CERT_ID });
    const { x509, der } = parseCertificate(body.certificate, 'certificate');
    if (crypto.createHash('sha256').update(der).digest('hex') !== certId) {
      throw bad('CERT_ID_MISMATCH', '证书编号与证书内容不符。', 'certId');
    }
    if (!this.issuedByUs(x509)) {
      throw new HallError(422, 'NOT_OUR_CERTIFICATE', '该证书不是本中心签发的，不能在本大厅更新。');
    }
    const now = this.now();
    const w = this.window(x509);
    if (now < w.opensAt || now > w.closesAt) {
      throw new HallError(422, 'RENEWAL_NOT_ALLOWED',
        '该证书不在可更新期内：到期前一个月内至到期后一年内可以在线更新。',
        { opensAt: w.opensAt.toISOString(), closesAt: w.closesAt.toISOString() });
    }
    const previous = this.findByCert(certId);
    if (previous.some((o) => o.status === 'installed')) {
      throw new HallError(409, 'ALREADY_RENEWED', '该证书已经更新过，请使用新证书。');
    }
    const open = previous.find((o) => o.status !== 'cancelled');
    if (open) return { order: this.view(open), existing: true };

    const day = now.toISOString().slice(0, 10).replace(/-/g, '');
    let id;
    do {
      id = `R${day}${crypto.randomBytes(4).toString('hex').toUpperCase()}`;
    } while (this.orders.has(id));
    // The new certificate runs one year past the later of now and the old
    // expiry: renewing early loses no days.
    const base = now > w.notAfter ? now : w.notAfter;
    const o = {
      id, status: 'created', createdAt: now.toISOString(), tokenId,
      oldCertId: certId, oldCertificate: body.certificate, subject: x509.subject.split('\n').join(', '),
      commonName: /^CN=(.*)$/m.exec(x509.subject)?.[1] ?? '',
      organization: /^O=(.*)$/m.exec(x509.subject)?.[1] ?? '',
      oldNotAfter: w.notAfter.toISOString(), price: this.price,
      challenge: crypto.randomBytes(32).toString('base64url'),
      plannedNotAfter: addMonths(base, 12).toISOString(),
    };
    this.orders.set(id, o);
    this.save();
    return { order: this.view(o), existing: false };
  }

  /**
   * The request of an order: the CSR renew.begin made and its proof. The
   * proof must verify with the OLD certificate over SHA-256(challenge ‖
   * CSR DER); the CSR must be self-signed correctly, carry the old subject
   * and a new key.
   */
  async submitRequest(id, body) {
    const o = this.get(id);
    onlyFields(body, ['csr', 'proof', 'renewalId']);
    const renewalId = str(body, 'renewalId', { re: RENEWAL_ID });
    if (typeof body.csr !== 'string' || body.csr.length > MAX_PEM) {
      throw bad('INVALID_CSR', '证书请求格式不正确（应为 PEM 格式）。', 'csr');
    }
    const csrDer = pemToDer(body.csr, 'CERTIFICATE REQUEST');
    if (!csrDer) throw bad('INVALID_CSR', '证书请求格式不正确（应为 PEM 格式）。', 'csr');
    const proof = body.proof;
    if (!proof || typeof proof !== 'object' || Array.isArray(proof)) {
      throw bad('MISSING_FIELD', '缺少字段 proof。', 'proof');
    }
    onlyFields(proof, ['algorithm', 'signature']);
    const algorithm = str(proof, 'algorithm', { max: 64 });
    const signature = str(proof, 'signature', { re: BASE64, max: 2048 });

    if (o.status !== 'created') {
      // the same request again (a page that lost the answer) is fine
      if (o.csr === body.csr && o.renewalId === renewalId) return this.view(o);
      throw new HallError(409, 'ORDER_STATE', '该订单已提交过证书请求。', { status: o.status });
    }

    const old = new crypto.X509Certificate(o.oldCertificate);
    const expectAlg = PROOF_ALGORITHMS[old.publicKey.asymmetricKeyType];
    if (algorithm !== expectAlg) {
      throw bad('PROOF_ALGORITHM', `签名算法应为 ${expectAlg ?? '（不支持的密钥类型）'}。`, 'proof');
    }
    const data = Buffer.concat([Buffer.from(o.challenge, 'ascii'), csrDer]);
    let proofOk = false;
    try {
      proofOk = crypto.verify('sha256', data, old.publicKey, Buffer.from(signature, 'base64'));
    } catch {
      proofOk = false;
    }
    if (!proofOk) {
      throw new HallError(422, 'PROOF_INVALID', '持有证明校验失败：请求不是由原证书的密钥签署的。');
    }

    // the CSR itself: its self-signature, its subject, its key
    const csrPem = `-----BEGIN CERTIFICATE REQUEST-----\n${csrDer.toString('base64')
      .replace(/.{64}/g, '$&\n').replace(/\n$/, '')}\n-----END CERTIFICATE REQUEST-----\n`;
    let csrOut;
    try {
      const r = await run('openssl', ['req', '-noout', '-verify', '-subject', '-pubkey',
        '-nameopt', 'RFC2253,-esc_msb'], { input: csrPem });
      // OpenSSL 3.0 exits 0 after "verify failure": read its verdict
      if (!/verify OK/.test(r.stderr)) throw new Error(r.stderr);
      csrOut = r.stdout;
    } catch {
      throw new HallError(422, 'CSR_INVALID', '证书请求无效（签名校验失败或无法解析）。');
    }
    const oldSubject = (await run('openssl', ['x509', '-noout', '-subject', '-nameopt',
      'RFC2253,-esc_msb'], { input: o.oldCertificate })).stdout.trim();
    const csrSubject = /^subject=.*$/m.exec(csrOut)?.[0];
    if (csrSubject !== oldSubject) {
      throw new HallError(422, 'SUBJECT_MISMATCH', '证书请求的主题与原证书不一致。',
        { expected: oldSubject.replace(/^subject=/, ''), subject: (csrSubject ?? '').replace(/^subject=/, '') });
    }
    const csrKey = /-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/.exec(csrOut)?.[0];
    const newKey = crypto.createPublicKey(csrKey).export({ type: 'spki', format: 'der' });
    if (newKey.equals(old.publicKey.export({ type: 'spki', format: 'der' }))) {
      throw new HallError(422, 'KEY_REUSED', '证书请求沿用了原密钥，更新必须使用新生成的密钥。');
    }

    o.csr = csrPem;
    o.proof = { algorithm, signature };
    o.renewalId = renewalId;
    o.requestedAt = this.now().toISOString();
    o.status = 'requested';
    this.save();
    return this.view(o);
  }

  /** The mock payment: marks the order paid, then issues. */
  async pay(id, body) {
    const o = this.get(id);
    onlyFields(body ?? {}, ['method']);
    const method = body?.method ?? 'mock';
    if (method !== 'mock') throw bad('INVALID_FIELD', '演示环境只支持模拟支付。', 'method');
    if (o.status === 'created') {
      throw new HallError(409, 'ORDER_STATE', '请先提交证书请求，再支付。', { status: o.status });
    }
    if (o.status === 'cancelled') {
      throw new HallError(409, 'ORDER_STATE', '订单已取消。', { status: o.status });
    }
    if (o.status === 'requested') {
      o.status = 'paid';
      o.paidAt = this.now().toISOString();
      o.payment = { method: 'mock', amount: o.price,
        transactionId: `MOCK${crypto.randomBytes(6).toString('hex').toUpperCase()}` };
      this.save();
    }
    await this.issue(o);
    return this.view(o);
  }

  // Issues the certificate of a paid order (once; later calls return it).
  issue(o) {
    const job = this.queue.then(async () => {
      if (o.certificate) return;
      if (o.status !== 'paid') throw new HallError(409, 'NOT_PAID', '订单尚未支付，不能签发证书。');
      const n = `${o.id}`;
      const csrFile = path.join(this.caDir, `${n}.csr`);
      const outFile = path.join(this.caDir, `${n}.pem`);
      fs.writeFileSync(csrFile, o.csr);
      const from = new Date(this.now().getTime() - 60_000);
      try {
        await run('openssl', ['ca', '-batch', '-config', path.join(this.caDir, 'ca.cnf'),
          '-in', csrFile, '-out', outFile, '-notext', '-preserveDN', '-utf8',
          '-startdate', asn1Time(from), '-enddate', asn1Time(new Date(o.plannedNotAfter))]);
      } catch (e) {
        throw new HallError(500, 'ISSUE_FAILED', '签发证书失败，请稍后重试或联系客服。',
          { detail: String(e.stderr || e.message).slice(0, 500) });
      }
      const pem = fs.readFileSync(outFile, 'utf8');
      const x = new crypto.X509Certificate(pem);
      o.certificate = pem;
      o.newCertId = crypto.createHash('sha256').update(x.raw).digest('hex');
      o.newNotBefore = new Date(x.validFrom).toISOString();
      o.newNotAfter = new Date(x.validTo).toISOString();
      o.issuedAt = this.now().toISOString();
      o.status = 'issued';
      this.save();
    });
    this.queue = job.catch(() => {});
    return job;
  }

  /** The issued certificate, as often as asked (异常恢复 asks again). */
  async certificate(id) {
    const o = this.get(id);
    if (!['paid', 'issued', 'installed'].includes(o.status)) {
      throw new HallError(409, 'NOT_PAID', '订单尚未支付，证书未签发。', { status: o.status });
    }
    await this.issue(o);
    return {
      orderId: o.id, certificate: o.certificate, chain: [this.caPem], certId: o.newCertId,
      notBefore: o.newNotBefore, notAfter: o.newNotAfter, renewalId: o.renewalId,
    };
  }

  /** The page reports the install; the CA checks it is this order's certificate. */
  async installed(id, body) {
    const o = this.get(id);
    onlyFields(body, ['certId']);
    const certId = str(body, 'certId', { re: CERT_ID });
    if (o.status !== 'issued' && o.status !== 'installed') {
      throw new HallError(409, 'ORDER_STATE', '证书尚未签发。', { status: o.status });
    }
    if (certId !== o.newCertId) {
      throw new HallError(422, 'CERT_ID_MISMATCH', '安装的证书不是本订单签发的证书。', { field: 'certId' });
    }
    if (o.status !== 'installed') {
      o.status = 'installed';
      o.installedAt = this.now().toISOString();
      this.save();
    }
    return this.view(o);
  }

  /** Cancels an unpaid order (the page starts the renewal again). */
  async cancel(id, body) {
    const o = this.get(id);
    onlyFields(body ?? {}, []);
    if (o.status === 'cancelled') return this.view(o);
    if (o.status !== 'created' && o.status !== 'requested') {
      throw new HallError(409, 'ORDER_STATE', '已支付的订单不能取消，请完成证书安装。', { status: o.status });
    }
    o.status = 'cancelled';
    o.cancelledAt = this.now().toISOString();
    this.save();
    return this.view(o);
  }
}
