// The ground truth for teleport-audit-proto's legacy_events: Teleport 14.2.3's own Go code turns
// events.OneOf bytes into ToUnstructured's JSON. See main.go.
module teleport-audit.test/oneofgolden

go 1.21

require (
	github.com/gogo/protobuf v1.3.2
	github.com/gravitational/teleport/api v0.0.0-20231214223850-22e50b45420e
	google.golang.org/protobuf v1.31.0
)

require (
	github.com/beevik/etree v1.2.0 // indirect
	github.com/coreos/go-semver v0.3.1 // indirect
	github.com/golang/protobuf v1.5.3 // indirect
	github.com/google/go-cmp v0.6.0 // indirect
	github.com/google/uuid v1.3.1 // indirect
	github.com/gravitational/trace v1.3.1 // indirect
	github.com/jonboulle/clockwork v0.4.0 // indirect
	github.com/mattermost/xml-roundtrip-validator v0.1.0 // indirect
	github.com/russellhaering/gosaml2 v0.9.1 // indirect
	github.com/russellhaering/goxmldsig v1.4.0 // indirect
	github.com/sirupsen/logrus v1.9.3 // indirect
	golang.org/x/crypto v0.15.0 // indirect
	golang.org/x/exp v0.0.0-20230811145659-89c5cff77bcb // indirect
	golang.org/x/net v0.18.0 // indirect
	golang.org/x/sys v0.14.0 // indirect
	golang.org/x/term v0.14.0 // indirect
	golang.org/x/text v0.14.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20230822172742-b8732ec3820d // indirect
	google.golang.org/grpc v1.59.0 // indirect
)

// Teleport's api module builds against its gogo fork (its own go.mod replaces it the same way).
replace github.com/gogo/protobuf => github.com/gravitational/protobuf v1.3.2-teleport.1
