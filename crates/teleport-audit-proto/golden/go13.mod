// Teleport 13.3.8's api module for the same program: `GOFLAGS=-mod=mod go run -modfile=go13.mod . > ../tests/data/oneof_golden_13.ndjson`.
module teleport-audit.test/oneofgolden

go 1.21

require (
	github.com/gogo/protobuf v1.3.2
	github.com/gravitational/teleport/api v0.0.0-20230905183941-c95e235e8855
	google.golang.org/protobuf v1.30.0
)

require (
	github.com/beevik/etree v1.1.0 // indirect
	github.com/coreos/go-semver v0.3.1 // indirect
	github.com/golang/protobuf v1.5.3 // indirect
	github.com/google/go-cmp v0.5.9 // indirect
	github.com/google/uuid v1.3.0 // indirect
	github.com/gravitational/trace v1.2.1 // indirect
	github.com/jonboulle/clockwork v0.4.0 // indirect
	github.com/mattermost/xml-roundtrip-validator v0.1.0 // indirect
	github.com/russellhaering/gosaml2 v0.9.1 // indirect
	github.com/russellhaering/goxmldsig v1.3.0 // indirect
	github.com/sirupsen/logrus v1.9.0 // indirect
	golang.org/x/crypto v0.12.0 // indirect
	golang.org/x/exp v0.0.0-20221126150942-6ab00d035af9 // indirect
	golang.org/x/net v0.14.0 // indirect
	golang.org/x/sys v0.11.0 // indirect
	golang.org/x/term v0.11.0 // indirect
	golang.org/x/text v0.12.0 // indirect
	google.golang.org/genproto v0.0.0-20230327152035-dc694ad2151e // indirect
	google.golang.org/grpc v1.54.0 // indirect
)

replace github.com/gogo/protobuf => github.com/gravitational/protobuf v1.3.2-teleport.1
