package domain

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
)

// MinSecretKeyLen is the shortest secret key (KEEL_SECRET_KEY) accepted.
const MinSecretKeyLen = 32

// SecretSealer encrypts the secrets Keel must be able to read back, such
// as a user's TOTP secret, with AES-256-GCM under a key derived from the
// instance's secret key, so that the database and its backups alone do
// not reveal them. Each sealed value is bound to a context (the user it
// belongs to): a sealed secret copied to another row does not open.
type SecretSealer struct{ aead cipher.AEAD }

// sealVersion starts every sealed value, so that another scheme can be
// told apart later.
const sealVersion = 1

// NewSecretSealer derives the sealing key from key, which must have at
// least MinSecretKeyLen characters.
func NewSecretSealer(key string) (*SecretSealer, error) {
	if len(key) < MinSecretKeyLen {
		return nil, errors.New("the secret key is shorter than 32 characters")
	}
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte("keel secret sealing v1"))
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &SecretSealer{aead: aead}, nil
}

// Seal encrypts plain for the context ctx.
func (s *SecretSealer) Seal(plain []byte, ctx string) []byte {
	out := make([]byte, 1+s.aead.NonceSize(), 1+s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	out[0] = sealVersion
	_, _ = rand.Read(out[1:]) // crypto/rand.Read never fails on supported platforms.
	return s.aead.Seal(out, out[1:], plain, []byte(ctx))
}

// errUnseal is what a value sealed under another key, for another
// context, or damaged, gives: an internal error, since only a changed
// KEEL_SECRET_KEY or a tampered database produces it.
var errUnseal = errors.New("open sealed secret: wrong key, wrong owner or damaged (was KEEL_SECRET_KEY changed?)")

// Open decrypts a value Seal made for ctx.
func (s *SecretSealer) Open(sealed []byte, ctx string) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < 1+n || sealed[0] != sealVersion {
		return nil, errUnseal
	}
	plain, err := s.aead.Open(nil, sealed[1:1+n], sealed[1+n:], []byte(ctx))
	if err != nil {
		return nil, errUnseal
	}
	return plain, nil
}
