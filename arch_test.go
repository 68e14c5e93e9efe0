package replstore

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestNodeReachesNothingOfAnotherNode is the architecture rule of Wave 2
// (DESIGN "one node per process"), checked on the source: nothing a node
// runs (the methods of Node, node, core, driver and the Node's routing
// backend) names a Cluster, the in-process coordinator's runtime, or
// another node's runtime; nodeEnv, what a node gets from outside, holds
// no such pointer either. A node reaches other replicas and the
// coordinator only through its Transport.
func TestNodeReachesNothingOfAnotherNode(t *testing.T) {
	nodeSide := map[string]bool{"Node": true, "node": true, "core": true, "driver": true, "nodeBackend": true}
	forbidden := map[string]string{
		"Cluster":   "the in-process harness",
		"coordNode": "the in-process coordinator's runtime",
		"members":   "the cluster's membership table",
		"MemNet":    "a concrete transport (a node sees only Transport)",
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil || !nodeSide[recvType(d.Recv.List[0].Type)] || d.Body == nil {
					continue
				}
				checked++
				ast.Inspect(d.Body, func(n ast.Node) bool {
					switch x := n.(type) {
					case *ast.Ident:
						if why, bad := forbidden[x.Name]; bad {
							t.Errorf("%s: %s.%s names %s (%s)", fset.Position(x.Pos()), recvType(d.Recv.List[0].Type), d.Name.Name, x.Name, why)
						}
					case *ast.SelectorExpr:
						if x.Sel.Name == "cl" {
							t.Errorf("%s: %s.%s reaches a Cluster through .cl", fset.Position(x.Pos()), recvType(d.Recv.List[0].Type), d.Name.Name)
						}
					}
					return true
				})
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					ts, ok := spec.(*ast.TypeSpec)
					if !ok || !(nodeSide[ts.Name.Name] || ts.Name.Name == "nodeEnv") {
						continue
					}
					ast.Inspect(ts.Type, func(n ast.Node) bool {
						if id, ok := n.(*ast.Ident); ok {
							if why, bad := forbidden[id.Name]; bad {
								t.Errorf("%s: type %s holds a %s (%s)", fset.Position(id.Pos()), ts.Name.Name, id.Name, why)
							}
						}
						return true
					})
				}
			}
		}
	}
	if checked < 100 {
		t.Fatalf("checked only %d node-side methods: the rule's net is broken", checked)
	}
}

// recvType is the name of a method receiver's type.
func recvType(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.StarExpr:
		return recvType(x.X)
	case *ast.Ident:
		return x.Name
	case *ast.IndexExpr:
		return recvType(x.X)
	}
	return ""
}
