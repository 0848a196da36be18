// Package storetest is the behaviour every auth.Store adapter must show, as a test
// suite an adapter's own tests run: storetest.Run(t, newStore). auth/sqlitestore runs
// it on a SQLite file; a PostgreSQL adapter runs the same suite on its database.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncspace/syncspace/auth"
)

// Run runs the suite. newStore must return an empty store, usable until t ends, on
// every call.
func Run(t *testing.T, newStore func(t *testing.T) auth.Store) {
	t.Run("Keys", func(t *testing.T) { testKeys(t, newStore(t)) })
	t.Run("RetireKey", func(t *testing.T) { testRetireKey(t, newStore(t)) })
	t.Run("SealedKeys", func(t *testing.T) { testSealedKeys(t, newStore(t)) })
	t.Run("Tokens", func(t *testing.T) { testTokens(t, newStore(t)) })
	t.Run("TokenQuery", func(t *testing.T) { testTokenQuery(t, newStore(t)) })
	t.Run("Revoke", func(t *testing.T) { testRevoke(t, newStore(t)) })
	t.Run("RevokeConcurrent", func(t *testing.T) { testRevokeConcurrent(t, newStore(t)) })
	t.Run("Audit", func(t *testing.T) { testAudit(t, newStore(t)) })
	t.Run("Settings", func(t *testing.T) { testSettings(t, newStore(t)) })
	t.Run("Devices", func(t *testing.T) { testDevices(t, newStore(t)) })
	t.Run("PruneRefresh", func(t *testing.T) { testPruneRefresh(t, newStore(t)) })
	t.Run("DeviceNames", func(t *testing.T) { testDeviceNames(t, newStore(t)) })
}

// base is a fixed instant with a whole number of microseconds (every engine keeps it).
var base = time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)

func key(kid string) auth.KeyRecord {
	pub := make([]byte, 32)
	copy(pub, kid)
	return auth.KeyRecord{KID: kid, PublicKey: pub, CreatedAt: base}
}

func mustKeys(t *testing.T, st auth.Store) []auth.KeyRecord {
	t.Helper()
	ks, err := st.Keys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func testKeys(t *testing.T, st auth.Store) {
	ctx := context.Background()
	if ks := mustKeys(t, st); len(ks) != 0 {
		t.Fatalf("empty store lists keys %v", ks)
	}
	// b is added with the same time as a, c with an earlier one: creation order stays
	// the order of addition, strictly.
	a, b, c := key("kid-b"), key("kid-a"), key("kid-c")
	c.CreatedAt = base.Add(-time.Hour)
	for _, k := range []auth.KeyRecord{a, b, c} {
		if err := st.AddKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.AddKey(ctx, a); err == nil {
		t.Fatal("a kid recorded twice")
	}
	ks := mustKeys(t, st)
	if got := kids(ks); !slices.Equal(got, []string{"kid-b", "kid-a", "kid-c"}) {
		t.Fatalf("keys in order %v, want addition order", got)
	}
	if !ks[0].CreatedAt.Equal(base) {
		t.Fatalf("first key created at %v, want %v", ks[0].CreatedAt, base)
	}
	for i := 1; i < len(ks); i++ {
		if !ks[i].CreatedAt.After(ks[i-1].CreatedAt) {
			t.Fatalf("creation times not strictly increasing: %v", ks)
		}
	}
	for _, k := range ks {
		if k.RetiredAt != nil || string(k.PublicKey) != string(key(k.KID).PublicKey) {
			t.Fatalf("key %s read back as %+v", k.KID, k)
		}
	}
}

func kids(ks []auth.KeyRecord) []string {
	var out []string
	for _, k := range ks {
		out = append(out, k.KID)
	}
	return out
}

func testRetireKey(t *testing.T, st auth.Store) {
	ctx := context.Background()
	if _, err := st.RetireKey(ctx, "nope", base); !errors.Is(err, auth.ErrNoRecord) {
		t.Fatalf("retire unknown: %v, want ErrNoRecord", err)
	}
	if err := st.AddKey(ctx, key("k1")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RetireKey(ctx, "k1", base); !errors.Is(err, auth.ErrLastLiveKey) {
		t.Fatalf("retire the only key: %v, want ErrLastLiveKey", err)
	}
	if err := st.AddKey(ctx, key("k2")); err != nil {
		t.Fatal(err)
	}
	at := base.Add(time.Minute)
	if ok, err := st.RetireKey(ctx, "k1", at); err != nil || !ok {
		t.Fatalf("retire k1: %v %v", ok, err)
	}
	if ok, err := st.RetireKey(ctx, "k1", at.Add(time.Hour)); err != nil || ok {
		t.Fatalf("retire k1 again: %v %v, want false, nil", ok, err)
	}
	if _, err := st.RetireKey(ctx, "k2", at); !errors.Is(err, auth.ErrLastLiveKey) {
		t.Fatalf("retire the last live key: %v, want ErrLastLiveKey", err)
	}
	ks := mustKeys(t, st)
	if len(ks) != 2 || ks[0].RetiredAt == nil || !ks[0].RetiredAt.Equal(at) || ks[1].RetiredAt != nil {
		t.Fatalf("after retiring k1: %+v", ks)
	}
}

// testSealedKeys: a sealed private half is kept as given, a key without one reads
// back without one, and retiring a key drops its sealed half.
func testSealedKeys(t *testing.T, st auth.Store) {
	ctx := context.Background()
	sealed := []byte("nonce-and-ciphertext\x00\xff")
	k1, k2 := key("k1"), key("k2")
	k1.Sealed = sealed
	k2.Sealed = []byte{}
	for _, k := range []auth.KeyRecord{k1, k2} {
		if err := st.AddKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	ks := mustKeys(t, st)
	if len(ks) != 2 || string(ks[0].Sealed) != string(sealed) || len(ks[1].Sealed) != 0 {
		t.Fatalf("sealed halves read back as %q, %q; want %q and none", ks[0].Sealed, ks[1].Sealed, sealed)
	}
	if ok, err := st.RetireKey(ctx, "k1", base); err != nil || !ok {
		t.Fatalf("retire k1: %v %v", ok, err)
	}
	if ks := mustKeys(t, st); ks[0].RetiredAt == nil || len(ks[0].Sealed) != 0 {
		t.Fatalf("retired key still holds its sealed half: %+v", ks[0])
	}
}

func token(jti, kind, tenant, subject string, issued time.Time) auth.TokenRecord {
	r := auth.TokenRecord{JTI: jti, Kind: kind, Tenant: tenant, Subject: subject, Role: auth.RoleOps, KeyID: "kid-1",
		IssuedAt: issued.Truncate(time.Second), ExpiresAt: issued.Truncate(time.Second).Add(time.Hour)}
	if kind == auth.KindTenant {
		r.TenantID, r.Role = "tid-"+tenant, auth.RoleWrite
	}
	return r
}

func addTokens(t *testing.T, st auth.Store, recs ...auth.TokenRecord) {
	t.Helper()
	for _, r := range recs {
		if err := st.AddToken(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
}

func testTokens(t *testing.T, st auth.Store) {
	ctx := context.Background()
	if _, err := st.Token(ctx, "nope"); !errors.Is(err, auth.ErrNoRecord) {
		t.Fatalf("unknown jti: %v, want ErrNoRecord", err)
	}
	r := token("j1", auth.KindTenant, "acme", "alice", base)
	r.Revoked, r.RevokedAt = true, &base // ignored by AddToken
	addTokens(t, st, r)
	if err := st.AddToken(ctx, r); err == nil {
		t.Fatal("a jti recorded twice")
	}
	got, err := st.Token(ctx, "j1")
	r.Revoked, r.RevokedAt = false, nil
	if err != nil || !sameToken(got, r) {
		t.Fatalf("Token = %+v, %v; want %+v", got, err, r)
	}
	o := token("j2", auth.KindOps, "", "ops-1", base)
	addTokens(t, st, o)
	if got, err := st.Token(ctx, "j2"); err != nil || !sameToken(got, o) {
		t.Fatalf("Token(ops) = %+v, %v; want %+v", got, err, o)
	}
}

func sameToken(a, b auth.TokenRecord) bool {
	if (a.RevokedAt == nil) != (b.RevokedAt == nil) || a.RevokedAt != nil && !a.RevokedAt.Equal(*b.RevokedAt) {
		return false
	}
	a.RevokedAt, b.RevokedAt = nil, nil
	return a.IssuedAt.Equal(b.IssuedAt) && a.ExpiresAt.Equal(b.ExpiresAt) &&
		fmt.Sprint(a.JTI, a.Kind, a.Tenant, a.TenantID, a.Subject, a.Role, a.KeyID, a.Revoked) ==
			fmt.Sprint(b.JTI, b.Kind, b.Tenant, b.TenantID, b.Subject, b.Role, b.KeyID, b.Revoked)
}

func jtis(rs []auth.TokenRecord) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.JTI)
	}
	return out
}

func testTokenQuery(t *testing.T, st auth.Store) {
	ctx := context.Background()
	old := token("t0", auth.KindTenant, "acme", "alice", base.Add(-3*time.Hour)) // expired at base
	reborn := token("t4", auth.KindTenant, "acme", "alice", base.Add(2*time.Second))
	reborn.TenantID = "tid-acme-2"
	addTokens(t, st,
		token("t2", auth.KindTenant, "acme", "bob", base.Add(time.Second)),
		token("t1", auth.KindTenant, "acme", "alice", base.Add(time.Second)),
		old, reborn,
		token("t3", auth.KindTenant, "beta", "alice", base),
		token("o1", auth.KindOps, "", "alice", base),
	)
	cases := []struct {
		q    auth.TokenQuery
		want []string
	}{
		{auth.TokenQuery{}, []string{"t0", "o1", "t3", "t1", "t2", "t4"}},
		{auth.TokenQuery{ExpiresAfter: base}, []string{"o1", "t3", "t1", "t2", "t4"}},
		{auth.TokenQuery{Kind: auth.KindOps}, []string{"o1"}},
		{auth.TokenQuery{Kind: auth.KindTenant, Tenant: "acme"}, []string{"t0", "t1", "t2", "t4"}},
		{auth.TokenQuery{Kind: auth.KindTenant, Tenant: "acme", TenantID: "tid-acme"}, []string{"t0", "t1", "t2"}},
		{auth.TokenQuery{Subject: "alice", ExpiresAfter: base}, []string{"o1", "t3", "t1", "t4"}},
		{auth.TokenQuery{Kind: auth.KindTenant, Tenant: "nope"}, []string{}},
	}
	for _, c := range cases {
		got, err := st.Tokens(ctx, c.q)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(jtis(got), c.want) {
			t.Errorf("Tokens(%+v) = %v, want %v (issued order, then jti)", c.q, jtis(got), c.want)
		}
	}
}

func testRevoke(t *testing.T, st auth.Store) {
	ctx := context.Background()
	addTokens(t, st,
		token("a1", auth.KindTenant, "acme", "alice", base),
		token("a2", auth.KindTenant, "acme", "alice", base.Add(time.Second)),
		token("b1", auth.KindTenant, "beta", "alice", base),
		token("o1", auth.KindOps, "", "alice", base),
	)
	if _, err := st.Revoke(ctx, auth.TokenMatch{Kind: auth.KindTenant}, base); err == nil {
		t.Fatal("a match with neither jti nor subject revoked")
	}
	if log := since(t, st, 0); len(log) != 0 {
		t.Fatalf("log before any revocation: %v", log)
	}
	at := base.Add(time.Minute)
	hits, err := st.Revoke(ctx, auth.TokenMatch{JTI: "a1"}, at)
	if err != nil || len(hits) != 1 || hits[0].JTI != "a1" || hits[0].Seq <= 0 || !hits[0].ExpiresAt.Equal(base.Add(time.Hour).Truncate(time.Second)) {
		t.Fatalf("revoke a1: %+v, %v", hits, err)
	}
	if hits, err := st.Revoke(ctx, auth.TokenMatch{JTI: "a1"}, at); err != nil || len(hits) != 0 {
		t.Fatalf("revoke a1 again: %+v, %v; want nothing", hits, err)
	}
	if hits, err := st.Revoke(ctx, auth.TokenMatch{JTI: "nope"}, at); err != nil || len(hits) != 0 {
		t.Fatalf("revoke unknown jti: %+v, %v; want nothing", hits, err)
	}
	r, err := st.Token(ctx, "a1")
	if err != nil || !r.Revoked || r.RevokedAt == nil || !r.RevokedAt.Equal(at) {
		t.Fatalf("a1 after revoke: %+v, %v", r, err)
	}
	later := at.Add(time.Minute)
	hits, err = st.Revoke(ctx, auth.TokenMatch{Kind: auth.KindTenant, Tenant: "acme", Subject: "alice"}, later)
	if err != nil || len(hits) != 1 || hits[0].JTI != "a2" {
		t.Fatalf("revoke alice on acme: %+v, %v; want a2 only", hits, err)
	}
	hits, err = st.Revoke(ctx, auth.TokenMatch{Kind: auth.KindOps, Subject: "alice"}, later)
	if err != nil || len(hits) != 1 || hits[0].JTI != "o1" {
		t.Fatalf("revoke alice's ops tokens: %+v, %v; want o1 only", hits, err)
	}
	if r, _ := st.Token(ctx, "b1"); r.Revoked {
		t.Fatal("b1 (another tenant) revoked")
	}
	log := since(t, st, 0)
	if got := revJTIs(log); !slices.Equal(got, []string{"a1", "a2", "o1"}) {
		t.Fatalf("log %v, want a1 a2 o1", got)
	}
	for i := 1; i < len(log); i++ {
		if log[i].Seq <= log[i-1].Seq {
			t.Fatalf("log seqs not increasing: %+v", log)
		}
	}
	if !log[1].RevokedAt.Equal(later) {
		t.Fatalf("log revoked_at %v, want %v", log[1].RevokedAt, later)
	}
	if tail := since(t, st, log[0].Seq); !slices.Equal(revJTIs(tail), []string{"a2", "o1"}) {
		t.Fatalf("since first: %v", revJTIs(tail))
	}
	if tail := since(t, st, log[2].Seq); len(tail) != 0 {
		t.Fatalf("since last: %v", revJTIs(tail))
	}
}

func since(t *testing.T, st auth.Store, after int64) []auth.Revocation {
	t.Helper()
	log, err := st.RevocationsSince(context.Background(), after)
	if err != nil {
		t.Fatal(err)
	}
	return log
}

func revJTIs(rs []auth.Revocation) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.JTI)
	}
	return out
}

// testRevokeConcurrent revokes the same tokens from several goroutines at once: each
// token is revoked and logged exactly once.
func testRevokeConcurrent(t *testing.T, st auth.Store) {
	ctx := context.Background()
	for i := range 5 {
		addTokens(t, st, token(fmt.Sprint("c", i), auth.KindTenant, "acme", "carol", base))
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hits, err := st.Revoke(ctx, auth.TokenMatch{Kind: auth.KindTenant, Tenant: "acme", Subject: "carol"}, base)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			total += len(hits)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if log := since(t, st, 0); total != 5 || len(log) != 5 {
		t.Fatalf("%d revocations returned, %d logged; want 5 and 5", total, len(log))
	}
}

func testAudit(t *testing.T, st auth.Store) {
	ctx := context.Background()
	if all, err := st.AuditTail(ctx, 0); err != nil || len(all) != 0 {
		t.Fatalf("empty log: %v, %v", all, err)
	}
	for i := range 4 {
		e := auth.AuditEntry{ID: 99, Time: base.Add(time.Duration(i) * time.Second), Actor: "ops:root", JTI: "j",
			Address: "127.0.0.1", Action: fmt.Sprint("act", i), Target: "acme", Outcome: auth.OutcomeOK}
		if err := st.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	all, err := st.AuditTail(ctx, 0)
	if err != nil || len(all) != 4 {
		t.Fatalf("all: %v, %v", all, err)
	}
	for i, e := range all {
		if e.Action != fmt.Sprint("act", i) || !e.Time.Equal(base.Add(time.Duration(i)*time.Second)) ||
			e.Actor != "ops:root" || e.JTI != "j" || e.Address != "127.0.0.1" || e.Target != "acme" || e.Outcome != auth.OutcomeOK {
			t.Fatalf("entry %d read back as %+v", i, e)
		}
		if i > 0 && e.ID <= all[i-1].ID {
			t.Fatalf("ids not increasing: %+v", all)
		}
	}
	tail, err := st.AuditTail(ctx, 2)
	if err != nil || len(tail) != 2 || tail[0].Action != "act2" || tail[1].Action != "act3" {
		t.Fatalf("tail 2: %+v, %v; want act2, act3", tail, err)
	}
	for _, c := range []struct {
		before int64
		limit  int
		want   string
	}{{all[3].ID, 2, "act1 act2"}, {all[2].ID, 5, "act0 act1"}, {all[0].ID, 5, ""}, {all[3].ID + 1, 1, "act3"}} {
		page, err := st.AuditBefore(ctx, c.before, c.limit)
		var got []string
		for _, e := range page {
			got = append(got, e.Action)
		}
		if err != nil || strings.Join(got, " ") != c.want {
			t.Fatalf("AuditBefore(%d, %d) = %v, %v; want %q", c.before, c.limit, got, err, c.want)
		}
	}
}

func testSettings(t *testing.T, st auth.Store) {
	ctx := context.Background()
	if _, ok, err := st.LoadSettings(ctx); err != nil || ok {
		t.Fatalf("empty store has settings: %v %v", ok, err)
	}
	want := auth.Settings{Issuer: "syncd", MaxTTL: time.Hour, MaxOpsTTL: time.Minute, KeyDir: "/k", DeviceTTL: 48 * time.Hour}
	for _, s := range []auth.Settings{{Issuer: "first", MaxTTL: 1, MaxOpsTTL: 2}, want} {
		if err := st.SaveSettings(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if got, ok, err := st.LoadSettings(ctx); err != nil || !ok || got != want {
		t.Fatalf("LoadSettings = %+v %v %v; want %+v", got, ok, err, want)
	}
}
