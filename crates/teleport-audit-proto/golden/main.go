// Command oneofgolden writes the golden file of teleport-audit-proto's legacy_events tests:
// for events of every events.OneOf variant, the OneOf bytes and the JSON that Teleport 14.2.3's
// own client code makes of them (the legacy StreamSessionEvents fallback of
// client.StreamUnstructuredSessionEvents: OneOf.Unmarshal, events.FromOneOf,
// events.ToUnstructured).
//
//	cd crates/teleport-audit-proto/golden && GOFLAGS=-mod=mod go run . > ../tests/data/oneof_golden.ndjson
//	GOFLAGS=-mod=mod go run -modfile=go13.mod . > ../tests/data/oneof_golden_13.ndjson   # 13.3.8
//
// Each line: {"name", "oneof_b64", and "json" (protojson of the Struct) or "error"}.
// The events: for every variant, an empty one (Go's zero values), and two with every field set
// by reflection from a seeded generator (nested structs, maps, slices, times with nanoseconds,
// Structs, traits, bytes, wrapper pointers, large and negative numbers, unicode, escapes,
// invalid UTF-8); then a few hand-written byte strings (merged and repeated fields, packed and
// unpacked lists, unknown fields).
package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/gogo/protobuf/types"
	apievents "github.com/gravitational/teleport/api/types/events"
	"github.com/gravitational/teleport/api/types/wrappers"
	"google.golang.org/protobuf/encoding/protojson"
)

type line struct {
	Name     string          `json:"name"`
	OneOfB64 string          `json:"oneof_b64"`
	JSON     json.RawMessage `json:"json,omitempty"`
	Error    string          `json:"error,omitempty"`
}

func main() {
	out := json.NewEncoder(os.Stdout)
	out.SetEscapeHTML(false)
	emit := func(name string, b []byte) {
		l := line{Name: name, OneOfB64: base64.StdEncoding.EncodeToString(b)}
		j, err := convert(b)
		if err != nil {
			l.Error = err.Error()
		} else {
			l.JSON = j
		}
		if err := out.Encode(l); err != nil {
			panic(err)
		}
	}

	variants := oneofVariants()
	for _, v := range variants {
		// The empty variant: field number, wire type 2, length 0.
		emit(v.name+"/empty", append(varint(uint64(v.number)<<3|2), 0))
	}
	for seed := int64(1); seed <= 2; seed++ {
		for _, v := range variants {
			r := rand.New(rand.NewSource(seed*1000 + int64(v.number)))
			ev := reflect.New(v.typ.Elem())
			f := filler{r: r, seed: seed}
			f.fill(ev.Elem(), v.name, 0)
			wrapper := reflect.New(v.wrapper.Elem())
			wrapper.Elem().Field(0).Set(ev)
			oneof := apievents.OneOf{}
			reflect.ValueOf(&oneof).Elem().FieldByName("Event").Set(wrapper)
			b, err := oneof.Marshal()
			if err != nil {
				panic(fmt.Sprintf("%s: %v", v.name, err))
			}
			emit(fmt.Sprintf("%s/full%d", v.name, seed), b)
		}
	}
	for _, h := range handWritten() {
		emit(h.name, h.bytes)
	}
}

// convert does what the Go client does with one message of the legacy stream.
func convert(b []byte) ([]byte, error) {
	var oneof apievents.OneOf
	if err := oneof.Unmarshal(b); err != nil {
		return nil, fmt.Errorf("unmarshal: %w", err)
	}
	ev, err := apievents.FromOneOf(oneof)
	if err != nil {
		return nil, fmt.Errorf("fromoneof: %w", err)
	}
	u, err := apievents.ToUnstructured(ev)
	if err != nil {
		return nil, fmt.Errorf("tounstructured: %w", err)
	}
	return protojson.Marshal(u.Unstructured)
}

type variant struct {
	name    string
	number  int32
	typ     reflect.Type // *events.X
	wrapper reflect.Type // *events.OneOf_X
}

// oneofVariants lists OneOf's variants from the generated wrappers' protobuf tags.
func oneofVariants() []variant {
	var out []variant
	for _, w := range (&apievents.OneOf{}).XXX_OneofWrappers() {
		t := reflect.TypeOf(w)
		field := t.Elem().Field(0)
		tag := field.Tag.Get("protobuf")
		var number int32
		fmt.Sscanf(strings.Split(tag, ",")[1], "%d", &number)
		out = append(out, variant{name: field.Name, number: number, typ: field.Type, wrapper: t})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].number < out[j].number })
	return out
}

type filler struct {
	r    *rand.Rand
	seed int64
}

var (
	timeType    = reflect.TypeOf(time.Time{})
	structType  = reflect.TypeOf(apievents.Struct{})
	traitsType  = reflect.TypeOf(wrappers.Traits{})
	stringPool  = []string{"alice", "node-1", "ls -la /tmp", "ü ñ 日本 🎉", "quote \" back\\slash", "<b>&amp;</b>", "line\nbreak\ttab", "ctl\u0001\u001f", "bad \xff utf8 \xe2\x82", ""}
	int64Pool   = []int64{1, -1, 42, 1<<53 + 1, math.MaxInt64, math.MinInt64, -1234567890123}
	uint64Pool  = []uint64{1, 7, 1<<53 + 1, math.MaxUint64}
	int32Pool   = []int64{1, -5, math.MaxInt32, math.MinInt32}
)

func (f *filler) str(path string) string {
	s := stringPool[f.r.Intn(len(stringPool)-1)] // never "" here
	if f.r.Intn(3) == 0 {
		return path + ":" + s
	}
	return s
}

func (f *filler) time() time.Time {
	sec := int64(1_600_000_000 + f.r.Intn(200_000_000))
	nanos := []int64{0, 123_000_000, 123_456_789, 1, 500_000}[f.r.Intn(5)]
	return time.Unix(sec, nanos).UTC()
}

func (f *filler) structValue(depth int) *types.Value {
	switch k := f.r.Intn(6); {
	case k == 0:
		return &types.Value{Kind: &types.Value_NullValue{}}
	case k == 1:
		return &types.Value{Kind: &types.Value_NumberValue{NumberValue: []float64{0, 1.5, -2, 1e21, 0.1, 123456789.25}[f.r.Intn(6)]}}
	case k == 2:
		return &types.Value{Kind: &types.Value_BoolValue{BoolValue: f.r.Intn(2) == 0}}
	case k == 3 && depth < 3:
		return &types.Value{Kind: &types.Value_StructValue{StructValue: f.pbStruct(depth + 1)}}
	case k == 4 && depth < 3:
		l := &types.ListValue{}
		for i := 0; i < 3; i++ {
			l.Values = append(l.Values, f.structValue(depth+1))
		}
		return &types.Value{Kind: &types.Value_ListValue{ListValue: l}}
	default:
		return &types.Value{Kind: &types.Value_StringValue{StringValue: f.str("v")}}
	}
}

func (f *filler) pbStruct(depth int) *types.Struct {
	s := &types.Struct{Fields: map[string]*types.Value{}}
	for i := 0; i < 3; i++ {
		s.Fields[fmt.Sprintf("k%d-%s", i, f.str("k"))] = f.structValue(depth)
	}
	return s
}

// fill sets every field of v (recursively), skipping XXX_ fields.
func (f *filler) fill(v reflect.Value, path string, depth int) {
	if depth > 6 {
		return
	}
	switch v.Type() {
	case timeType:
		v.Set(reflect.ValueOf(f.time()))
		return
	case structType:
		v.Set(reflect.ValueOf(apievents.Struct{Struct: *f.pbStruct(0)}))
		return
	case traitsType:
		t := wrappers.Traits{"logins": {"root", f.str("login")}, "empty": {}, "one": {"x"}}
		v.Set(reflect.ValueOf(t))
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			sf := v.Type().Field(i)
			if strings.HasPrefix(sf.Name, "XXX_") || !sf.IsExported() {
				continue
			}
			f.fill(v.Field(i), path+"."+sf.Name, depth+1)
		}
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		f.fill(p.Elem(), path, depth)
		v.Set(p)
	case reflect.String:
		v.SetString(f.str(path))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int64:
		v.SetInt(int64Pool[f.r.Intn(len(int64Pool))])
	case reflect.Int32:
		v.SetInt(int32Pool[f.r.Intn(len(int32Pool))])
	case reflect.Uint32:
		v.SetUint(uint64(f.r.Uint32()) | 1)
	case reflect.Uint64:
		v.SetUint(uint64Pool[f.r.Intn(len(uint64Pool))])
	case reflect.Float32, reflect.Float64:
		v.SetFloat(0.1)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			b := make([]byte, 1+f.r.Intn(40))
			f.r.Read(b)
			v.SetBytes(b)
			return
		}
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := 0; i < 2; i++ {
			f.fill(s.Index(i), fmt.Sprintf("%s[%d]", path, i), depth+1)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for i := 0; i < 2; i++ {
			k := reflect.New(v.Type().Key()).Elem()
			f.fill(k, fmt.Sprintf("%s{k%d}", path, i), depth+1)
			if k.Kind() == reflect.String {
				k.SetString(fmt.Sprintf("key%d-%s", i, k.String()))
			}
			e := reflect.New(v.Type().Elem()).Elem()
			f.fill(e, fmt.Sprintf("%s{v%d}", path, i), depth+1)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Interface:
		// Only OneOf has an interface field; nothing else reached from it does.
	default:
		panic(fmt.Sprintf("%s: unhandled kind %v", path, v.Kind()))
	}
}

func varint(x uint64) []byte {
	var b []byte
	for x >= 0x80 {
		b = append(b, byte(x)|0x80)
		x >>= 7
	}
	return append(b, byte(x))
}

func field(number int, wire int, payload ...byte) []byte {
	return append(varint(uint64(number)<<3|uint64(wire)), payload...)
}

func lenField(number int, payload ...byte) []byte {
	return field(number, 2, append(varint(uint64(len(payload))), payload...)...)
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

type hand struct {
	name  string
	bytes []byte
}

// handWritten: byte strings that Go's Marshal never writes but a server (or a corrupt file) may.
func handWritten() []hand {
	// Metadata (SessionPrint field 1): Index=1 varint, Type=2 string, Time=4 Timestamp.
	meta1 := cat(field(1, 0, varint(5)...), lenField(2, []byte("print")...), lenField(4, cat(field(1, 0, varint(1700000000)...), field(2, 0, varint(5)...))...))
	meta2 := cat(field(1, 0, varint(6)...), lenField(4, field(1, 0, varint(1700000001)...)...))
	print := func(body ...[]byte) []byte { return lenField(7, cat(body...)...) }
	// SessionStart (5): InitialCommand is field 10 in SessionStart? Use SessionCommand (11):
	// Argv = repeated string 7? Kept generic below with known-safe fields only.
	return []hand{
		{"merge/embedded-twice", print(lenField(1, meta1...), lenField(1, meta2...), field(4, 0, varint(3)...), field(4, 0, varint(9)...))},
		{"merge/variant-twice-last-wins", cat(print(lenField(1, meta1...)), lenField(9, []byte{}...))},
		{"unknown/field-in-event", print(lenField(1, meta1...), field(99, 0, varint(1)...), lenField(100, []byte("x")...), field(101, 5, 1, 2, 3, 4), field(102, 1, 1, 2, 3, 4, 5, 6, 7, 8))},
		{"unknown/group-in-event", print(field(50, 3), field(1, 0, 1), field(50, 4), lenField(3, []byte("hi")...))},
		{"print/data-empty-present", print(lenField(3))},
		{"print/data-twice", print(lenField(3, []byte("one")...), lenField(3, []byte("two\x00\xff")...))},
		{"print/negative-ci", print(field(2, 0, varint(math.MaxUint64)...))},
		{"time/epoch-present-empty", print(lenField(1, lenField(4)...))},
		{"time/out-of-range", print(lenField(1, lenField(4, field(1, 0, varint(math.MaxInt64)...)...)...))},
		{"time/bad-nanos", print(lenField(1, lenField(4, field(2, 0, varint(2_000_000_000)...)...)...))},
		{"unknown-variant", lenField(999, []byte{}...)},
		{"empty-oneof", []byte{}},
		{"unknown-then-known", cat(lenField(999), print(lenField(1, meta1...)))},
		{"wrong-wire-type", print(field(2, 2, 0))},
		{"truncated", print(lenField(1, meta1...))[:10]},
	}
}
