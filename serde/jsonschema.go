package serde

import "errors"

func parseJSONSchema(text string) (payloadSchema, error) {
	return nil, errors.New("json_schema: not yet")
}
