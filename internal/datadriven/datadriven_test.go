package datadriven

import (
	"reflect"
	"testing"
)

func TestParseAndRewrite(t *testing.T) {
	const in = "# file comment\n\n-- one\n-- two\nquery a=1 b\nSELECT 1;\n\nSELECT 2;\n----\nold\nrows\n\nexec\nSET x = 1\n----\n"
	f, err := Parse("t.txt", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Case{
		{Line: 5, Doc: []string{"one", "two"}, Cmd: "query", Args: []string{"a=1", "b"}, Input: "SELECT 1;\n\nSELECT 2;", Expected: "old\nrows", from: 9, to: 11},
		{Line: 13, Cmd: "exec", Args: []string{}, Input: "SET x = 1", from: 15, to: 15},
	}
	if !reflect.DeepEqual(f.Cases, want) {
		t.Fatalf("got %+v\nwant %+v", f.Cases, want)
	}
	if got := string(f.Rewrite([]string{"new", "ok\n"})); got != "# file comment\n\n-- one\n-- two\nquery a=1 b\nSELECT 1;\n\nSELECT 2;\n----\nnew\n\nexec\nSET x = 1\n----\nok\n" {
		t.Errorf("Rewrite:\n%s", got)
	}
	if _, err := Parse("t.txt", []byte("query\nSELECT 1\n")); err == nil {
		t.Error("a case without ---- parsed")
	}
}
