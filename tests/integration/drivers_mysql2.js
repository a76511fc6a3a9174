// tests/integration/drivers_mysql2.js: node's mysql2, query() and execute(), against a bare
// node, for drivers_test.sh.
// Environment: NN_PORT, NN_CERTS, NN_OTHER_CA, NN_USER, NN_PASSWORD (REQUIRE X509), NN_MODE.
// Prints "ok NAME" / "FAIL NAME"; exits 1 on a failure.
'use strict';
const fs = require('fs');
const path = require('path');
const mysql = require('mysql2/promise');

const env = process.env;
const certs = env.NN_CERTS;
let failed = 0;

function check(name, cond, detail) {
  console.log(`${cond ? 'ok  ' : 'FAIL'} ${name}${cond ? '' : ' ' + JSON.stringify(detail)}`);
  if (!cond) {
    failed++;
  }
}

function options(caFile) {
  return {
    host: '127.0.0.1', port: Number(env.NN_PORT), user: env.NN_USER, password: env.NN_PASSWORD,
    connectTimeout: 10000,
    ssl: {
      ca: fs.readFileSync(caFile),
      cert: fs.readFileSync(path.join(certs, 'client-cert.pem')),
      key: fs.readFileSync(path.join(certs, 'client-key.pem')),
      rejectUnauthorized: true,
    },
  };
}

async function text(c) {
  const [st] = await c.query("SHOW STATUS LIKE 'Ssl_version'");
  check('session_is_tls', st.length === 1 && /^TLSv1\./.test(st[0].Value), st);
  const [u] = await c.query('SELECT CURRENT_USER() AS u');
  check('current_user_is_the_x509_account', u[0].u === 'drv@%', u);
  const [a] = await c.query('SELECT 1+1 AS two, 7/2 AS half');
  check('arithmetic_on_literals', Number(a[0].two) === 2 && a[0].half === '3.5000', a);
  const [p] = await c.query('SELECT ? + 1 AS n, ? AS s, ? AS z', [41, "it's", null]);
  check('client_side_parameters', Number(p[0].n) === 42 && p[0].s === "it's" && p[0].z === null, p);
  const [v] = await c.query(
    'SELECT @@session.auto_increment_increment AS aii, @@global.max_allowed_packet AS map');
  check('session_and_global_variables', Number(v[0].aii) === 1 && Number(v[0].map) > 0, v);
  const [col] = await c.query("SHOW COLLATION LIKE 'utf8mb4_general_ci'");
  check('show_collation', col.length === 1 && Number(col[0].Id) === 45, col);
  await c.query("SET NAMES utf8mb4 COLLATE utf8mb4_bin, sql_mode = concat(@@sql_mode, ',ANSI_QUOTES')");
  const [n] = await c.query('SELECT @@collation_connection AS c, @@sql_mode AS m');
  check('set_names_and_concat', n[0].c === 'utf8mb4_bin' && /ANSI_QUOTES$/.test(n[0].m), n);
  await c.ping();
  check('ping', true);
  await c.beginTransaction();
  await c.commit();
  await c.beginTransaction();
  await c.rollback();
  check('transactions', true);
  // A full re-authentication on the same TLS session: the X509 account still qualifies.
  await c.changeUser({ user: env.NN_USER, password: env.NN_PASSWORD, database: 'appdb' });
  const [d] = await c.query('SELECT DATABASE() AS d, CURRENT_USER() AS u');
  check('change_user', d[0].d === 'appdb' && d[0].u === 'drv@%', d);
}

async function prepared(c) {
  for (let round = 0; round < 2; round++) {
    const [r] = await c.execute('SELECT ? + 1 AS n, ? AS s', [41 + round, `hello ${round}`]);
    check(`execute_round_${round}`, Number(r[0].n) === 42 + round && r[0].s === `hello ${round}`, r);
  }
  const [z] = await c.execute('SELECT ? AS z, CONNECTION_ID() AS id', [null]);
  check('execute_null_parameter', z[0].z === null && Number(z[0].id) > 0, z);
  const [w] = await c.execute('SELECT @@version_comment AS vc');
  check('execute_without_parameters', w[0].vc === 'nodenet', w);
  const [col] = await c.execute('SHOW COLLATION LIKE ?', ['utf8mb4_bin']);
  check('execute_show_collation', col.length === 1 && Number(col[0].Id) === 46, col);
  const [cs] = await c.execute('SHOW CHARACTER SET WHERE Charset = ?', ['latin1']);
  check('execute_show_character_set', cs.length === 1 && Number(cs[0].Maxlen) === 1, cs);
  const [sum] = await c.execute('SELECT ? * 2 AS d, ? / 4 AS q', [21, 1]);
  check('execute_arithmetic', Number(sum[0].d) === 42 && sum[0].q === '0.2500', sum);
  // binary rows of the admin handler's other types: DATETIME, DATE, DECIMAL, DOUBLE, NULL
  const [typed] = await c.execute('SELECT NOW() AS t, CURDATE() AS day, 7/2 AS d, 1e0 + ? AS f, NULL AS n', [1]);
  const t = typed[0];
  check('execute_typed_binary_rows', t.t instanceof Date && !isNaN(t.t) && t.day instanceof Date &&
        t.d === '3.5000' && t.f === 2 && t.n === null, typed);
}

async function main() {
  let wrong = null;
  try {
    wrong = await mysql.createConnection(options(env.NN_OTHER_CA));
  } catch (e) {
    console.log(`    refused as expected: ${e.code}`);
  }
  check('server_certificate_is_verified', wrong === null, 'connected with another CA');
  if (wrong) {
    await wrong.end();
  }
  const c = await mysql.createConnection(options(path.join(certs, 'ca.pem')));
  check('x509_login_over_verified_tls', true);
  try {
    if (env.NN_MODE === 'prepared') {
      await prepared(c);
    } else {
      await text(c);
    }
  } finally {
    await c.end();
  }
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.log(`FAIL ${e.code || ''} ${e.errno || ''} ${e.message}`);
  process.exit(1);
});
