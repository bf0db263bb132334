package redisrep

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/botwarden/botwarden/detect/reputation"
)

// recordVersion starts every record and push message. A replica that meets
// another version (a newer botwarden during a rolling upgrade, or garbage)
// counts it and skips it rather than guessing.
const recordVersion = 1

// Bounds on what a record may carry; anything larger is corrupt.
const (
	maxKeyBytes    = 8 << 10 // the longest key the analysis can produce (an ALS value)
	maxOriginBytes = 64
	// maxRedisKey: longer reputation keys are stored under their SHA-256
	// so that a hostile 8 KiB session id does not become an 8 KiB Redis key
	// (the record keeps the full key, so nothing is lost).
	maxRedisKey = 128
)

var errRecord = errors.New("redisrep: bad record")

// appendRecord appends the stored form of v: version, key (length-prefixed),
// then the verdict in reputation's own compact encoding.
func appendRecord(b []byte, v reputation.Verdict) []byte {
	b = append(b, recordVersion)
	b = binary.AppendUvarint(b, uint64(len(v.Key)))
	b = append(b, v.Key...)
	return v.AppendBinary(b)
}

// decodeRecord parses what appendRecord wrote. Hostile or truncated input
// is an error, never a panic.
func decodeRecord(b []byte) (reputation.Verdict, error) {
	if len(b) < 2 || b[0] != recordVersion {
		return reputation.Verdict{}, fmt.Errorf("%w: unknown version", errRecord)
	}
	n, w := binary.Uvarint(b[1:])
	if w <= 0 || n == 0 || n > maxKeyBytes || uint64(len(b)-1-w) < n {
		return reputation.Verdict{}, fmt.Errorf("%w: key length", errRecord)
	}
	off := 1 + w
	key := string(b[off : off+int(n)])
	v, err := reputation.DecodeVerdict(key, b[off+int(n):])
	if err != nil {
		return reputation.Verdict{}, fmt.Errorf("%w: %w", errRecord, err)
	}
	return v, nil
}

// appendPush appends a pub/sub message: the publishing replica's id (so it
// can skip its own echo) then the record.
func appendPush(b []byte, origin string, v reputation.Verdict) []byte {
	b = append(b, recordVersion)
	b = binary.AppendUvarint(b, uint64(len(origin)))
	b = append(b, origin...)
	return appendRecord(b, v)
}

// decodePush parses a pub/sub message.
func decodePush(b []byte) (origin string, v reputation.Verdict, err error) {
	if len(b) < 2 || b[0] != recordVersion {
		return "", v, fmt.Errorf("%w: unknown version", errRecord)
	}
	n, w := binary.Uvarint(b[1:])
	if w <= 0 || n > maxOriginBytes || uint64(len(b)-1-w) < n {
		return "", v, fmt.Errorf("%w: origin length", errRecord)
	}
	off := 1 + w
	origin = string(b[off : off+int(n)])
	v, err = decodeRecord(b[off+int(n):])
	return origin, v, err
}

// redisKey is where key's verdict lives in Redis.
func redisKey(prefix, key string) string {
	if len(key) <= maxRedisKey {
		return prefix + "v:" + key
	}
	sum := sha256.Sum256([]byte(key))
	return prefix + "vh:" + hex.EncodeToString(sum[:])
}
