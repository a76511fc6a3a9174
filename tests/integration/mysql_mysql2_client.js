// tests/integration/mysql_mysql2_client.js: node's mysql2 against a nodenet node.
//   node mysql_mysql2_client.js PORT CERT_DIR ROOT_PASSWORD
// Prints "ok <check>" per check and exits 1 on the first failure (with the error).
'use strict';
const fs = require('fs');
const path = require('path');
const mysql = require('mysql2/promise');

const [port, certDir, rootPassword] = process.argv.slice(2);
const ca = fs.readFileSync(path.join(certDir, 'ca.pem'));
const base = { host: '127.0.0.1', port: Number(port), connectTimeout: 5000 };

function expect(cond, what) {
  if (!cond) {
    throw new Error(`check failed: ${what}`);
  }
  console.log(`ok ${what}`);
}

async function session(opts, label, fn) {
  const conn = await mysql.createConnection({ ...base, ...opts });
  try {
    await fn(conn);
  } finally {
    await conn.end();
  }
  console.log(`ok ${label}`);
}

async function main() {
  // TLS with the cluster CA (mysql2 checks the server certificate against it).
  await session({ user: 'root', password: rootPassword, ssl: { ca } }, 'tls session', async (c) => {
    const [one] = await c.query('SELECT 1 AS one');
    expect(Number(one[0].one) === 1, 'tls SELECT 1');
    const [ver] = await c.query('SELECT @@version AS v');
    expect(/nodenet/.test(ver[0].v), `tls SELECT @@version (${ver[0].v})`);
    const [st] = await c.query("SHOW STATUS LIKE 'Ssl_cipher'");
    expect(st.length === 1 && st[0].Variable_name === 'Ssl_cipher' && st[0].Value !== '',
           `tls Ssl_cipher is set (${st.length ? st[0].Value : 'no row'})`);
    // Prepared statements (COM_STMT_PREPARE/EXECUTE, binary rows) on the admin handler.
    const [p1] = await c.execute('SELECT ? AS p, ? AS s', [41, 'forty-one']);
    expect(Number(p1[0].p) === 41 && p1[0].s === 'forty-one',
           `execute with parameters (${JSON.stringify(p1[0])})`);
    const [p2] = await c.execute('SELECT ? AS p', [null]);
    expect(p2[0].p === null, 'execute with a NULL parameter');
    await c.ping();
    const [again] = await c.query('SELECT 2 AS two');
    expect(Number(again[0].two) === 2, 'session serves text queries after executes');
    await c.query("DROP USER IF EXISTS 'm2x509'@'%'");
    await c.query("CREATE USER 'm2x509'@'%' IDENTIFIED BY 'x509-pw' REQUIRE X509");
  });

  // A pool with a database in the handshake, as applications connect.
  const pool = mysql.createPool({ ...base, user: 'root', password: rootPassword, ssl: { ca },
                                  database: 'appdb', connectionLimit: 2 });
  const [db] = await pool.query('SELECT DATABASE() AS d, CONNECTION_ID() AS id');
  expect(db[0].d === 'appdb' && Number(db[0].id) > 0, 'pool with a database');
  await pool.end();

  // Plaintext (no ssl option): the session says so.
  await session({ user: 'root', password: rootPassword }, 'plaintext session', async (c) => {
    const [one] = await c.query('SELECT 1 AS one');
    expect(Number(one[0].one) === 1, 'plaintext SELECT 1');
    const [st] = await c.query("SHOW STATUS LIKE 'Ssl_cipher'");
    expect(st.length === 1 && st[0].Value === '', 'plaintext Ssl_cipher is empty');
  });

  // REQUIRE X509: with the client certificate it logs in...
  await session({ user: 'm2x509', password: 'x509-pw', ssl: {
    ca,
    cert: fs.readFileSync(path.join(certDir, 'client-cert.pem')),
    key: fs.readFileSync(path.join(certDir, 'client-key.pem')),
  } }, 'x509 user with a client certificate', async (c) => {
    const [u] = await c.query('SELECT CURRENT_USER() AS u');
    expect(u[0].u === 'm2x509@%', `x509 CURRENT_USER (${u[0].u})`);
  });

  // ...and without one it is refused with MySQL's access denied.
  let refused = null;
  try {
    const c = await mysql.createConnection({ ...base, user: 'm2x509', password: 'x509-pw', ssl: { ca } });
    await c.end();
  } catch (e) {
    refused = e;
  }
  expect(refused !== null && refused.errno === 1045,
         `x509 user without a certificate is refused (${refused ? refused.code : 'connected'})`);
}

main().then(() => process.exit(0), (e) => {
  console.error(`FAIL: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
