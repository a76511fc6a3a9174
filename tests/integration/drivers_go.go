// tests/integration/drivers_go.go: Go's database/sql with go-sql-driver/mysql against a bare
// node, for drivers_test.sh (built in GOPATH mode against Debian's package).
// Environment: NN_PORT, NN_CERTS, NN_OTHER_CA, NN_USER, NN_PASSWORD (REQUIRE X509), NN_MODE.
// interpolateParams=false: a query with arguments is prepared on the server. Prints
// "ok NAME" / "FAIL NAME"; exits 1 on a failure.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"fmt"
	"io/ioutil"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-sql-driver/mysql"
)

var failed int

func check(name string, cond bool, detail interface{}) {
	if cond {
		fmt.Printf("ok   %s\n", name)
		return
	}
	fmt.Printf("FAIL %s %v\n", name, detail)
	failed++
}

func open(key, caFile string) *sql.DB {
	certs := os.Getenv("NN_CERTS")
	pem, err := ioutil.ReadFile(caFile)
	if err != nil {
		panic(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	pair, err := tls.LoadX509KeyPair(filepath.Join(certs, "client-cert.pem"),
		filepath.Join(certs, "client-key.pem"))
	if err != nil {
		panic(err)
	}
	if err := mysql.RegisterTLSConfig(key, &tls.Config{RootCAs: pool,
		Certificates: []tls.Certificate{pair}}); err != nil {
		panic(err)
	}
	dsn := fmt.Sprintf("%s:%s@tcp(127.0.0.1:%s)/?tls=%s&interpolateParams=false&timeout=10s",
		os.Getenv("NN_USER"), os.Getenv("NN_PASSWORD"), os.Getenv("NN_PORT"), key)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		panic(err)
	}
	db.SetMaxOpenConns(1)
	return db
}

func text(db *sql.DB) {
	var name, value string
	err := db.QueryRow("SHOW STATUS LIKE 'Ssl_version'").Scan(&name, &value)
	check("session_is_tls", err == nil && strings.HasPrefix(value, "TLSv1."), err)
	var user string
	err = db.QueryRow("SELECT CURRENT_USER()").Scan(&user)
	check("current_user_is_the_x509_account", err == nil && user == "drv@%", []interface{}{user, err})
	var two int64
	var half string
	err = db.QueryRow("SELECT 1+1, 7/2").Scan(&two, &half)
	check("arithmetic_on_literals", err == nil && two == 2 && half == "3.5000", []interface{}{two, half, err})
	var aii, maxPacket int64
	err = db.QueryRow("SELECT @@session.auto_increment_increment AS a, @@global.max_allowed_packet").Scan(&aii, &maxPacket)
	check("session_and_global_variables", err == nil && aii == 1 && maxPacket > 0, err)
	_, err = db.Exec("SET NAMES utf8mb4 COLLATE utf8mb4_general_ci, time_zone = '+00:00'")
	check("set_names_collate_and_time_zone", err == nil, err)
	var cs, coll, id string
	err = db.QueryRow("SHOW COLLATION WHERE Collation = 'utf8mb3_general_ci'").Scan(&coll, &cs, &id,
		new(string), new(string), new(int64), new(string))
	check("show_collation_where", err == nil && cs == "utf8mb3" && id == "33", []interface{}{coll, cs, id, err})
	check("ping", db.Ping() == nil, nil)
	// A read-only transaction at an isolation level: SET TRANSACTION ..., START TRANSACTION READ ONLY.
	tx, err := db.BeginTx(context.Background(), &sql.TxOptions{Isolation: sql.LevelReadCommitted, ReadOnly: true})
	check("begin_read_only_read_committed", err == nil, err)
	if err == nil {
		var one int64
		err = tx.QueryRow("SELECT 1").Scan(&one)
		check("query_in_transaction", err == nil && one == 1, err)
		check("commit", tx.Commit() == nil, nil)
	}
	tx, err = db.Begin()
	check("begin", err == nil, err)
	if err == nil {
		check("rollback", tx.Rollback() == nil, nil)
	}
}

func prepared(db *sql.DB) {
	var n int64
	var s string
	err := db.QueryRow("SELECT ? + 1, ?", 41, "hello").Scan(&n, &s)
	check("query_with_arguments", err == nil && n == 42 && s == "hello", []interface{}{n, s, err})
	stmt, err := db.Prepare("SELECT ? AS a, CONCAT(?, '!') AS b")
	check("prepare", err == nil, err)
	if err != nil {
		return
	}
	defer stmt.Close()
	for i := 0; i < 2; i++ {
		var a int64
		var b string
		err = stmt.QueryRow(int64(i), fmt.Sprintf("round %d", i)).Scan(&a, &b)
		check(fmt.Sprintf("execute_round_%d", i), err == nil && a == int64(i) && b == fmt.Sprintf("round %d!", i),
			[]interface{}{a, b, err})
	}
	var z sql.NullString
	err = db.QueryRow("SELECT ?", nil).Scan(&z)
	check("null_parameter", err == nil && !z.Valid, err)
	_, err = db.Exec("SET @x = ?", 5)
	check("exec_with_arguments", err == nil, err)
}

func main() {
	certs := os.Getenv("NN_CERTS")
	wrong := open("other", os.Getenv("NN_OTHER_CA"))
	err := wrong.Ping()
	check("server_certificate_is_verified", err != nil, "connected with another CA")
	fmt.Printf("    refused as expected: %v\n", err)
	wrong.Close()
	db := open("nn", filepath.Join(certs, "ca.pem"))
	defer db.Close()
	err = db.Ping()
	check("x509_login_over_verified_tls", err == nil, err)
	if err != nil {
		os.Exit(1)
	}
	if os.Getenv("NN_MODE") == "prepared" {
		prepared(db)
	} else {
		text(db)
	}
	if failed > 0 {
		os.Exit(1)
	}
}
