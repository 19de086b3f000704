package catalog

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	tidb "github.com/pingcap/tidb/pkg/parser"
	tidbast "github.com/pingcap/tidb/pkg/parser/ast"
	_ "github.com/pingcap/tidb/pkg/parser/test_driver"
)

// queryStatements returns every statement in queries.go by reading the file
// itself: each constant named sql* and the multi-row builders. Reading the
// source rather than keeping a list means a new query cannot be left out.
func queryStatements(t *testing.T) map[string]string {
	t.Helper()
	consts := sourceConstants(t, "queries.go")
	out := map[string]string{}
	for name, v := range consts {
		if strings.HasPrefix(name, "sql") {
			out[name] = v
		}
	}
	for _, n := range []int{1, 2, shardBatch} {
		out["insertBackupShardsSQL("+strconv.Itoa(n)+")"] = insertBackupShardsSQL(n)
	}
	return out
}

// sourceConstants evaluates the string constants of a Go file: literals,
// references to other constants of the file, and + between them.
func sourceConstants(t *testing.T, file string) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	exprs := map[string]ast.Expr{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			for i, n := range vs.Names {
				exprs[n.Name] = vs.Values[i]
			}
		}
	}
	var eval func(e ast.Expr) (string, bool)
	eval = func(e ast.Expr) (string, bool) {
		switch e := e.(type) {
		case *ast.BasicLit:
			if e.Kind != token.STRING {
				return "", false
			}
			s, err := strconv.Unquote(e.Value)
			return s, err == nil
		case *ast.Ident:
			if x, ok := exprs[e.Name]; ok {
				return eval(x)
			}
			return "", false
		case *ast.BinaryExpr:
			l, lok := eval(e.X)
			r, rok := eval(e.Y)
			return l + r, lok && rok && e.Op == token.ADD
		case *ast.ParenExpr:
			return eval(e.X)
		}
		return "", false
	}
	out := map[string]string{}
	for name, e := range exprs {
		if v, ok := eval(e); ok {
			out[name] = v
		}
	}
	return out
}

func parseTiDB(t *testing.T, sql string) []tidbast.StmtNode {
	t.Helper()
	stmts, _, err := tidb.New().Parse(sql, "", "")
	if err != nil {
		t.Fatalf("TiDB's parser rejects it: %v\n%s", err, sql)
	}
	return stmts
}

// forbidden are constructs DESIGN.md rules out because TiDB lacks them or
// behaves differently, or because correctness must not rest on them.
var forbidden = regexp.MustCompile(`(?i)\b(GET_LOCK|RELEASE_LOCK|IS_FREE_LOCK|IS_USED_LOCK|TRIGGER|PROCEDURE|FUNCTION|CASCADE|FOREIGN\s+KEY|REFERENCES|AUTO_INCREMENT|FOR\s+UPDATE|LOCK\s+IN\s+SHARE\s+MODE|RETURNING|SEQUENCE)\b`)

func checkForbidden(t *testing.T, sql string) {
	t.Helper()
	if m := forbidden.FindString(sql); m != "" {
		t.Errorf("uses %s, which the catalog must not rely on:\n%s", m, sql)
	}
}

func TestEveryQueryParsesWithTiDBsParser(t *testing.T) {
	stmts := queryStatements(t)
	if len(stmts) < 25 {
		t.Fatalf("found only %d statements in queries.go; is the enumeration broken?", len(stmts))
	}
	// The evaluator must agree with the compiler.
	for name, want := range map[string]string{
		"sqlListBackups": sqlListBackups, "sqlTakeOverLock": sqlTakeOverLock, "sqlUpsertRestore": sqlUpsertRestore,
	} {
		if stmts[name] != want {
			t.Fatalf("evaluated %s = %q, compiled %q", name, stmts[name], want)
		}
	}
	names := make([]string, 0, len(stmts))
	for n := range stmts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			sql := stmts[name]
			nodes := parseTiDB(t, sql)
			if len(nodes) != 1 {
				t.Fatalf("want one statement, parsed %d:\n%s", len(nodes), sql)
			}
			if _, ok := nodes[0].(tidbast.DMLNode); !ok {
				t.Errorf("is %T, want a DML statement (schema changes belong in migrations)", nodes[0])
			}
			checkForbidden(t, sql)
		})
	}
}

func TestEveryMigrationIsOneTiDBCompatibleStatement(t *testing.T) {
	all, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < bootstrapMigrations {
		t.Fatalf("only %d migrations", len(all))
	}
	for _, m := range all {
		t.Run(strconv.Itoa(m.Version)+"_"+m.Name, func(t *testing.T) {
			nodes := parseTiDB(t, m.SQL)
			if len(nodes) != 1 {
				t.Fatalf("want exactly one statement per migration, parsed %d", len(nodes))
			}
			if _, ok := nodes[0].(tidbast.DDLNode); !ok {
				t.Errorf("is %T, want a DDL statement", nodes[0])
			}
			checkForbidden(t, m.SQL)
			ct, ok := nodes[0].(*tidbast.CreateTableStmt)
			if !ok {
				if m.Version <= bootstrapMigrations {
					t.Errorf("bootstrap migration is %T, want CREATE TABLE IF NOT EXISTS", nodes[0])
				}
				return
			}
			checkCreateTable(t, ct)
		})
	}
}

// checkCreateTable enforces the table rules: idempotent creation, an
// explicit primary key, utf8mb4, no auto-increment or foreign keys.
func checkCreateTable(t *testing.T, ct *tidbast.CreateTableStmt) {
	t.Helper()
	if !ct.IfNotExists {
		t.Errorf("CREATE TABLE %s without IF NOT EXISTS: a repeated migration would fail", ct.Table.Name)
	}
	pk := false
	for _, c := range ct.Constraints {
		switch c.Tp {
		case tidbast.ConstraintPrimaryKey:
			pk = true
		case tidbast.ConstraintForeignKey:
			t.Errorf("table %s has a foreign key", ct.Table.Name)
		}
	}
	for _, col := range ct.Cols {
		for _, o := range col.Options {
			switch o.Tp {
			case tidbast.ColumnOptionPrimaryKey:
				pk = true
			case tidbast.ColumnOptionAutoIncrement:
				t.Errorf("column %s.%s is AUTO_INCREMENT", ct.Table.Name, col.Name)
			case tidbast.ColumnOptionReference:
				t.Errorf("column %s.%s references another table", ct.Table.Name, col.Name)
			}
		}
	}
	if !pk {
		t.Errorf("table %s has no explicit PRIMARY KEY", ct.Table.Name)
	}
	charset := ""
	for _, o := range ct.Options {
		if o.Tp == tidbast.TableOptionCharset {
			charset = strings.ToLower(o.StrValue)
		}
	}
	if charset != "utf8mb4" {
		t.Errorf("table %s has charset %q, want utf8mb4", ct.Table.Name, charset)
	}
}

func TestTheForbiddenCheckCatchesWhatDesignRulesOut(t *testing.T) {
	for _, sql := range []string{
		"SELECT GET_LOCK('x', 10)",
		"SELECT name FROM locks WHERE name = ? FOR UPDATE",
		"CREATE TABLE t (id INT PRIMARY KEY, p INT, FOREIGN KEY (p) REFERENCES u (id) ON DELETE CASCADE)",
		"CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW SET @a = 1",
		"CREATE PROCEDURE p() BEGIN END",
		"CREATE TABLE t (id BIGINT AUTO_INCREMENT PRIMARY KEY)",
	} {
		if forbidden.FindString(sql) == "" {
			t.Errorf("not caught: %s", sql)
		}
	}
}

func TestTiDBsParserRejectsMariaDBOnlySyntax(t *testing.T) {
	// The point of parsing with TiDB: MariaDB in the integration tests runs
	// these, TiDB does not.
	for _, sql := range []string{
		"DELETE FROM locks WHERE name = ? RETURNING holder",
		"CREATE OR REPLACE TABLE t (id INT PRIMARY KEY)",
	} {
		if _, _, err := tidb.New().Parse(sql, "", ""); err == nil {
			t.Errorf("TiDB's parser accepted MariaDB-only syntax: %s", sql)
		}
	}
}

// TestNoSQLOutsideQueriesFile keeps the enumeration above complete: a
// statement written inline elsewhere would not be parsed by these tests.
func TestNoSQLOutsideQueriesFile(t *testing.T) {
	sqlStart := regexp.MustCompile(`^\s*(SELECT|INSERT|UPDATE|DELETE|REPLACE|CREATE|ALTER|DROP|SET|BEGIN|COMMIT)\b`)
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		if file == "queries.go" || strings.HasSuffix(file, "_test.go") {
			continue
		}
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(token.NewFileSet(), file, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			if s, err := strconv.Unquote(lit.Value); err == nil && sqlStart.MatchString(s) {
				t.Errorf("%s: SQL outside queries.go: %q", file, s)
			}
			return true
		})
	}
}
