package serde

import "errors"

func parseProtobuf(text string) (payloadSchema, error) { return nil, errors.New("protobuf: not yet") }
