package bgp

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/edgesim/edgesim/internal/deptest"
)

// TestDeps fails if bgp (or anything it imports) depends on a package the data plane must not use.
func TestDeps(t *testing.T) {
	t.Parallel()
	deptest.DepChecker{
		BadDeps: map[string]string{
			"github.com/edgesim/edgesim/api":   "data plane must not import the control-plane API",
			"github.com/edgesim/edgesim/store": "data plane must not import the store",
			"github.com/edgesim/edgesim/node":  "the node reconciler drives bgp, not the reverse",
			"testing":                          "do not use testing package in production code",
		},
		// GoBGP itself links grpc and with it net/http; bgp must not use it.
		BadImports: map[string]string{"net/http": "no HTTP server code in the speaker"},
	}.Check(t)
}

// TestNoGoBGPInAPI fails if an exported identifier of bgp mentions a type
// from a GoBGP (or protobuf/grpc) package: GoBGP types never leave bgp.
func TestNoGoBGPInAPI(t *testing.T) {
	fset := token.NewFileSet()
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		foreign := map[string]string{}
		for _, imp := range af.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			name := filepath.Base(path)
			if imp.Name != nil {
				name = imp.Name.Name
			}
			if strings.Contains(path, "gobgp") || strings.Contains(path, "protobuf") || strings.Contains(path, "grpc") {
				foreign[name] = path
			}
		}
		check := func(where string, n ast.Node) {
			if n == nil {
				return
			}
			ast.Inspect(n, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok {
					if id, ok := sel.X.(*ast.Ident); ok && foreign[id.Name] != "" {
						t.Errorf("%s: exported %s uses %s.%s (%s)", fset.Position(sel.Pos()), where, id.Name, sel.Sel.Name, foreign[id.Name])
					}
				}
				return true
			})
		}
		for _, d := range af.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if !d.Name.IsExported() {
					continue
				}
				if d.Recv != nil {
					rt := d.Recv.List[0].Type
					if st, ok := rt.(*ast.StarExpr); ok {
						rt = st.X
					}
					if id, ok := rt.(*ast.Ident); ok && !id.IsExported() {
						continue
					}
				}
				check(d.Name.Name, d.Type)
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						if !s.Name.IsExported() {
							continue
						}
						switch tt := s.Type.(type) {
						case *ast.StructType:
							for _, fld := range tt.Fields.List {
								exported := len(fld.Names) == 0
								for _, n := range fld.Names {
									exported = exported || n.IsExported()
								}
								if exported {
									check(s.Name.Name, fld.Type)
								}
							}
						default:
							check(s.Name.Name, s.Type)
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.IsExported() {
								check(n.Name, s.Type)
								for _, v := range s.Values {
									check(n.Name, v)
								}
							}
						}
					}
				}
			}
		}
	}
}
