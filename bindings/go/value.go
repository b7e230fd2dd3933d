package ziggydb

import (
	"encoding/json"
	"fmt"
	"time"
)

// Type is the type a value was stored as (ziggydb.h, ZIGGY_TYPE_*).
type Type int

// The value types.
const (
	TypeNone      Type = 0 // no value: the key is missing
	TypeBytes     Type = 1
	TypeString    Type = 2
	TypeInt       Type = 3
	TypeFloat     Type = 4
	TypeBool      Type = 5
	TypeTimestamp Type = 6 // milliseconds since the Unix epoch, UTC
	TypeJSON      Type = 7
	TypeList      Type = 16 // collections: read and written with Do
	TypeSet       Type = 17
	TypeZSet      Type = 18
	TypeHash      Type = 19
)

func (t Type) String() string {
	switch t {
	case TypeNone:
		return "none"
	case TypeBytes:
		return "bytes"
	case TypeString:
		return "string"
	case TypeInt:
		return "int"
	case TypeFloat:
		return "float"
	case TypeBool:
		return "bool"
	case TypeTimestamp:
		return "timestamp"
	case TypeJSON:
		return "json"
	case TypeList:
		return "list"
	case TypeSet:
		return "set"
	case TypeZSet:
		return "zset"
	case TypeHash:
		return "hash"
	}
	return fmt.Sprintf("Type(%d)", int(t))
}

// Value is a typed value, as GetValue reads it and SetValue writes it. Build one with
// Bytes, String, Int, Float, Bool, Time or JSON, and read it with the method of its Type.
type Value struct {
	Type Type
	// Int holds an int, a bool (0 or 1) and a timestamp (ms since the epoch).
	Int int64
	// Float holds a float.
	Float float64
	// Data holds bytes, a string's UTF-8 and JSON text.
	Data []byte
}

// Bytes is a bytes value (a copy is not made: do not change b during the call).
func Bytes(b []byte) Value { return Value{Type: TypeBytes, Data: b} }

// String is a string value; s must be valid UTF-8 (else ErrInvalidArgument when written).
func String(s string) Value { return Value{Type: TypeString, Data: []byte(s)} }

// Int is an integer value.
func Int(i int64) Value { return Value{Type: TypeInt, Int: i} }

// Float is a float value.
func Float(f float64) Value { return Value{Type: TypeFloat, Float: f} }

// Bool is a boolean value.
func Bool(b bool) Value {
	v := Value{Type: TypeBool}
	if b {
		v.Int = 1
	}
	return v
}

// Time is a timestamp value, kept to the millisecond (finer parts are dropped).
func Time(t time.Time) Value { return Value{Type: TypeTimestamp, Int: t.UnixMilli()} }

// JSON is a JSON value from its text, which the library validates when it is written
// (ErrInvalidJSON).
func JSON(text []byte) Value { return Value{Type: TypeJSON, Data: text} }

// JSONOf is a JSON value holding json.Marshal(v).
func JSONOf(v any) (Value, error) {
	text, err := json.Marshal(v)
	if err != nil {
		return Value{}, err
	}
	return JSON(text), nil
}

// AsBool is a bool value's truth.
func (v Value) AsBool() bool { return v.Int != 0 }

// AsTime is a timestamp value as a time.Time in UTC.
func (v Value) AsTime() time.Time { return time.UnixMilli(v.Int).UTC() }

// AsString is a string or JSON value's text (or a bytes value's bytes as a string).
func (v Value) AsString() string { return string(v.Data) }

// AsJSON is a JSON value's text.
func (v Value) AsJSON() json.RawMessage { return json.RawMessage(v.Data) }

// Decode unmarshals a JSON value into out (json.Unmarshal); ErrWrongType for another type.
func (v Value) Decode(out any) error {
	if v.Type != TypeJSON {
		return &Error{Code: ErrWrongType.Code, Name: ErrWrongType.Name,
			Msg: "Decode of a " + v.Type.String() + " value, not json"}
	}
	return json.Unmarshal(v.Data, out)
}

// Any is the value as the Go value of its type: []byte, string, int64, float64, bool,
// time.Time or json.RawMessage; nil for TypeNone.
func (v Value) Any() any {
	switch v.Type {
	case TypeBytes:
		return v.Data
	case TypeString:
		return string(v.Data)
	case TypeInt:
		return v.Int
	case TypeFloat:
		return v.Float
	case TypeBool:
		return v.AsBool()
	case TypeTimestamp:
		return v.AsTime()
	case TypeJSON:
		return v.AsJSON()
	}
	return nil
}

// String formats the value for people: its type and value.
func (v Value) String() string {
	switch v.Type {
	case TypeBytes:
		return fmt.Sprintf("bytes(%q)", v.Data)
	case TypeTimestamp:
		return "timestamp(" + v.AsTime().Format(time.RFC3339Nano) + ")"
	case TypeJSON:
		return "json(" + string(v.Data) + ")"
	case TypeNone:
		return "none"
	}
	return fmt.Sprintf("%s(%#v)", v.Type, v.Any())
}
