package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// runClusterBlobs: one cluster node on S3 (the configured S3-compatible server, a
// fresh bucket) against one on local disk (dir: blobs), same PostgreSQL: a large
// upload in MiB/s and 4 KiB uploads per second, alternating between the two.
func runClusterBlobs(ctx context.Context, r *runner) []Result {
	const scen = "cluster-blobs"
	size := r.size(64<<20, 1<<20)
	mLarge := fmt.Sprintf("MiB/s, %d MiB upload, S3", size>>20)
	mSmall := "files/s, 4 KiB uploads, S3"
	k, err := newClusterKit()
	if err == nil && k.s3.endpoint == "" {
		err = errNoServices{"no S3-compatible server (" + envS3Endpoint + " unset)"}
	}
	if err != nil {
		return clusterSkip(scen, err, mLarge, mSmall)
	}
	dir, err := r.dir(scen)
	if err != nil {
		return clusterSkip(scen, err, mLarge, mSmall)
	}
	bucket := randomName("syncbench-")
	defer func() {
		if err := k.removeBucket(context.WithoutCancel(ctx), bucket); err != nil {
			r.log.Warn("remove the benchmark's bucket", "bucket", bucket, "err", err)
		}
	}()
	s3URL := fmt.Sprintf("s3://%s?endpoint=%s&region=us-east-1", bucket, url.QueryEscape(k.s3.endpoint))
	s3c, err := k.startCluster(ctx, filepath.Join(dir, "s3"), 1, "postgres", s3URL,
		[]string{"AWS_ACCESS_KEY_ID=" + k.s3.access, "AWS_SECRET_ACCESS_KEY=" + k.s3.secret})
	if err != nil {
		return clusterSkip(scen, err, mLarge, mSmall)
	}
	defer s3c.stop()
	dirc, err := k.startCluster(ctx, filepath.Join(dir, "disk"), 1, "postgres", "dir", nil)
	if err != nil {
		return clusterSkip(scen, err, mLarge, mSmall)
	}
	defer dirc.stop()
	s3Tok, err := s3c.tenants(ctx, []string{"blobs"})
	if err == nil {
		var dTok []string
		dTok, err = dirc.tenants(ctx, []string{"blobs"})
		s3Tok = append(s3Tok, dTok...)
	}
	if err != nil {
		return clusterSkip(scen, err, mLarge, mSmall)
	}
	sleepCtx(ctx, 1200*time.Millisecond)
	bases := []string{s3c.nodes[0].base, dirc.nodes[0].base}
	notes := fmt.Sprintf("one cluster node each (GOMAXPROCS=1, %s), same PostgreSQL; S3: versitygw or whatever %s names, on this machine; local disk: dir: blobs in the work dir",
		k.cpu.note, envS3Endpoint)
	cl := newHTTPClient(8)
	var out []Result
	s3Rate, diskRate, err := largeUploads(ctx, cl, bases, s3Tok, size, r.size(4, 2))
	if err != nil {
		out = append(out, failed(scen, mLarge, "", err))
	} else {
		out = append(out, row(scen, mLarge, s3Rate, "local disk (dir:)", diskRate, notes+"; median of ABBA rounds, distinct content each"))
	}
	n := r.size(2000, 40)
	s3T, diskT, err := uploadHalves(ctx, cl, n, 8, func(i int) (string, string) {
		return fmt.Sprintf("%s/api/files/small/f%05d.bin", bases[0], i), s3Tok[0]
	}, func(i int) (string, string) {
		return fmt.Sprintf("%s/api/files/small/f%05d.bin", bases[1], i), s3Tok[1]
	})
	if err != nil {
		return append(out, failed(scen, mSmall, "", err))
	}
	half := float64(n / 2 * 2)
	return append(out, row(scen, mSmall, half/s3T.Seconds(), "local disk (dir:)", half/diskT.Seconds(),
		fmt.Sprintf("%s; %d files of 4 KiB, 8 concurrent, halves in ABBA order", notes, n)))
}

// largeUploads PUTs size bytes rounds times to each of the two bases (S3 first, then
// ABBA) and returns the median MiB/s of each.
func largeUploads(ctx context.Context, cl *http.Client, bases, toks []string, size, rounds int) (float64, float64, error) {
	body := make([]byte, size)
	var rates [2][]float64
	for i := range rounds * 2 {
		which := []int{0, 1, 1, 0}[i%4]
		fill(body, uint64(i)+7)
		t0 := time.Now()
		if err := put(ctx, cl, fmt.Sprintf("%s/api/files/big-%d.bin", bases[which], i), toks[which], body, sha256Hex(body)); err != nil {
			return 0, 0, err
		}
		rates[which] = append(rates[which], float64(size)/(1<<20)/time.Since(t0).Seconds())
	}
	return median(rates[0]), median(rates[1]), nil
}

// removeBucket deletes the benchmark's bucket and what it holds.
func (k *clusterKit) removeBucket(ctx context.Context, bucket string) error {
	u, err := url.Parse(k.s3.endpoint)
	if err != nil {
		return err
	}
	mc, err := minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4(k.s3.access, k.s3.secret, ""),
		Secure: u.Scheme == "https", Region: "us-east-1"})
	if err != nil {
		return err
	}
	if ok, err := mc.BucketExists(ctx, bucket); err != nil || !ok {
		return err
	}
	objs := mc.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true})
	for e := range mc.RemoveObjects(ctx, bucket, objs, minio.RemoveObjectsOptions{}) {
		if e.Err != nil {
			return e.Err
		}
	}
	return mc.RemoveBucket(ctx, bucket)
}

// uploadHalves PUTs n small files to two sides in ABBA halves (peer, syncspace,
// syncspace, peer) and returns each side's total time.
func uploadHalves(ctx context.Context, cl *http.Client, n, conc int, ssURL, peerURL func(int) (string, string)) (time.Duration, time.Duration, error) {
	half := n / 2
	var ssT, pT time.Duration
	parts := []struct {
		url      func(int) (string, string)
		from, to int
		acc      *time.Duration
	}{
		{peerURL, 0, half, &pT}, {ssURL, 0, half, &ssT}, {ssURL, half, n, &ssT}, {peerURL, half, n, &pT},
	}
	for _, p := range parts {
		d, err := uploadRange(ctx, cl, p.from, p.to, conc, p.url)
		if err != nil {
			return 0, 0, err
		}
		*p.acc += d
	}
	return ssT, pT, nil
}
