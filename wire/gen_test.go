package wire

import (
	"reflect"
	"strings"
	"testing"

	"github.com/replstore/replstore"
	"pgregory.net/rapid"
)

// genMessage draws a Message of the given kind with every field filled by
// reflection, so a field added to Message (or to Entry, TopologyUpdate,
// SnapshotChunk, Topology) is drawn without touching this file and the
// round trip fails until the codec carries it. A field of a type the
// generator does not know fails the test, saying which.
//
// Normalisation, deliberately the codec's: an empty slice is drawn as nil
// (the codec decodes empty as nil); pointers are nil or not, and a
// TopologyUpdate chain is at most MaxUpdateDepth long.
func genMessage(kind replstore.MsgKind) *rapid.Generator[replstore.Message] {
	return rapid.Custom(func(t *rapid.T) replstore.Message {
		var m replstore.Message
		fill(t, reflect.ValueOf(&m).Elem(), "Message", 0)
		m.Kind = kind
		return m
	})
}

var (
	nodeIDType = reflect.TypeFor[replstore.NodeID]()
	bytesType  = reflect.TypeFor[[]byte]()
	updateType = reflect.TypeFor[replstore.TopologyUpdate]()
)

// fill sets v (settable) to a drawn value; depth counts the
// TopologyUpdates around v.
func fill(t *rapid.T, v reflect.Value, path string, depth int) {
	switch {
	case v.Type() == nodeIDType:
		v.SetString(rapid.SampledFrom([]string{"", "n1", "n2", "coordinator", "ñode-é"}).Draw(t, path))
		return
	case v.Type() == bytesType:
		b := rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(t, path)
		if len(b) == 0 {
			b = nil
		}
		v.SetBytes(b)
		return
	}
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(rapid.Bool().Draw(t, path))
	case reflect.String:
		v.SetString(rapid.String().Draw(t, path))
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		// Small values most of the time: they exercise the varint
		// boundaries as well as the presence bits.
		v.SetUint(rapid.OneOf(rapid.Uint64Range(0, 300), rapid.Uint64()).Draw(t, path) & (1<<v.Type().Bits() - 1))
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(rapid.OneOf(rapid.Int64Range(-300, 300), rapid.Int64()).Draw(t, path) >> (64 - v.Type().Bits()))
	case reflect.Struct:
		if v.Type() == updateType {
			depth++
		}
		for i := 0; i < v.NumField(); i++ {
			if !v.Type().Field(i).IsExported() {
				t.Fatalf("%s.%s: unexported field; the codec cannot carry it", path, v.Type().Field(i).Name)
			}
			fill(t, v.Field(i), path+"."+v.Type().Field(i).Name, depth)
		}
	case reflect.Pointer:
		if v.Type().Elem() == updateType && depth >= MaxUpdateDepth {
			return
		}
		if rapid.Bool().Draw(t, path+" != nil") {
			p := reflect.New(v.Type().Elem())
			fill(t, p.Elem(), path, depth)
			v.Set(p)
		}
	case reflect.Slice:
		n := rapid.IntRange(0, 3).Draw(t, path+" len")
		if n == 0 {
			return
		}
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := 0; i < n; i++ {
			fill(t, s.Index(i), path+"[]", depth)
		}
		v.Set(s)
	default:
		t.Fatalf("%s: the generator does not know type %s; teach it (and the codec)", path, v.Type())
	}
}

// allKinds lists every MsgKind with a name (1..255): the kinds the core
// defines, whatever wire knows. A gap in the numbering fails the test.
func allKinds(t testing.TB) []replstore.MsgKind {
	var kinds []replstore.MsgKind
	for k := 1; k <= 255; k++ {
		if isUnnamed(replstore.MsgKind(k)) {
			continue
		}
		if len(kinds) != k-1 {
			t.Fatalf("MsgKind %d (%s) is named but %d is not: kinds are no longer 1..n", k, replstore.MsgKind(k), len(kinds)+1)
		}
		kinds = append(kinds, replstore.MsgKind(k))
	}
	if len(kinds) == 0 {
		t.Fatal("no MsgKind has a name")
	}
	return kinds
}

func isUnnamed(k replstore.MsgKind) bool {
	return strings.HasPrefix(k.String(), "MsgKind(")
}
