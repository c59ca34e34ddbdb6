package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"strings"
	"time"
)

// writeWrongCAIdentity copies an identity file, replacing every TLS CA certificate (each PEM
// block after the second) with one fresh self-signed CA that signed nothing of the cluster's.
func writeWrongCAIdentity(in, out string) error {
	data, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	caPEM, err := freshCA()
	if err != nil {
		return err
	}
	var b bytes.Buffer
	blocks, replaced, inBlock := 0, 0, false
	for _, line := range strings.SplitAfter(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "-----BEGIN") {
			blocks++
			inBlock = true
		}
		if blocks >= 3 && inBlock {
			// Drop the original CA block; write the fresh one in its place once.
			if strings.HasPrefix(trimmed, "-----END") {
				inBlock = false
				if replaced == 0 {
					b.Write(caPEM)
				}
				replaced++
			}
			continue
		}
		if strings.HasPrefix(trimmed, "-----END") {
			inBlock = false
		}
		b.WriteString(line)
	}
	if replaced == 0 {
		return fmt.Errorf("%s has no TLS CA certificate to replace", in)
	}
	return os.WriteFile(out, b.Bytes(), 0o600)
}

func freshCA() ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "unrelated-ca", Organization: []string{"unrelated-ca"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}
