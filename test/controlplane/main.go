// Command controlplane runs an embedded etcd and a real kube-apiserver in one process, on free
// loopback ports, for the operator's integration tests. It writes everything it creates (etcd data,
// serving certificates, the service-account signing key, an admin kubeconfig) under --dir and prints
// one JSON line describing the endpoint once kube-apiserver is starting; callers poll /readyz. Started
// again with the same --dir, it comes back on the same ports with the same data and credentials.
package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

// Endpoint is the line printed on stdout for the test helper.
type Endpoint struct {
	Server     string `json:"server"`
	Kubeconfig string `json:"kubeconfig"`
	EtcdURL    string `json:"etcdUrl"`
	PID        int    `json:"pid"`
}

func main() {
	dir := flag.String("dir", "", "working directory (created if missing); everything is written below it")
	exitWithParent := flag.Bool("exit-with-parent", true, "exit when the process that started this one exits, so a killed test run leaves no orphan")
	flag.Parse()
	if *dir == "" {
		fail("--dir is required")
	}
	if *exitWithParent {
		go watchParent(os.Getppid())
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		fail("create dir: %v", err)
	}

	state, err := loadOrCreateState(*dir)
	if err != nil {
		fail("state: %v", err)
	}
	etcdURL, err := startEtcd(filepath.Join(*dir, "etcd"), state.EtcdClientPort, state.EtcdPeerPort)
	if err != nil {
		fail("etcd: %v", err)
	}
	port := state.APIServerPort
	keyFile := filepath.Join(*dir, "service-account.key")
	tokenFile := filepath.Join(*dir, "tokens.csv")
	server := fmt.Sprintf("https://127.0.0.1:%d", port)
	kubeconfig := filepath.Join(*dir, "admin.kubeconfig")

	out, _ := json.Marshal(Endpoint{Server: server, Kubeconfig: kubeconfig, EtcdURL: etcdURL, PID: os.Getpid()})
	fmt.Println(string(out))

	os.Args = []string{"kube-apiserver",
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", port),
		"--cert-dir=" + filepath.Join(*dir, "certs"),
		"--endpoint-reconciler-type=none",
		"--service-cluster-ip-range=10.0.0.0/24",
		"--authorization-mode=RBAC",
		"--token-auth-file=" + tokenFile,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--api-audiences=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + keyFile,
		"--service-account-signing-key-file=" + keyFile,
		"--disable-admission-plugins=ServiceAccount",
		"--allow-privileged=true",
		"--enable-priority-and-fairness=false",
		"--profiling=false",
		"--v=0",
	}
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}

func startEtcd(dataDir string, clientPort, peerPort int) (string, error) {
	clientURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", clientPort)}
	peerURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", peerPort)}

	cfg := embed.NewConfig()
	cfg.Dir = dataDir
	cfg.Name = "controlplane"
	cfg.ListenClientUrls = []url.URL{clientURL}
	cfg.AdvertiseClientUrls = []url.URL{clientURL}
	cfg.ListenPeerUrls = []url.URL{peerURL}
	cfg.AdvertisePeerUrls = []url.URL{peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.UnsafeNoFsync = true
	cfg.LogLevel = "error"
	cfg.ListenMetricsUrls = nil

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return "", err
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(60 * time.Second):
		e.Close()
		return "", fmt.Errorf("not ready after 60s")
	}
	go func() { fail("etcd stopped: %v", <-e.Err()) }()
	return clientURL.String(), nil
}

// State is what a restart in the same --dir reuses, so that a restarted control plane keeps its
// address, its data, its admin credential and the key that signed existing service-account tokens.
type State struct {
	APIServerPort  int `json:"apiServerPort"`
	EtcdClientPort int `json:"etcdClientPort"`
	EtcdPeerPort   int `json:"etcdPeerPort"`
}

func loadOrCreateState(dir string) (State, error) {
	path := filepath.Join(dir, "state.json")
	var state State
	if data, err := os.ReadFile(path); err == nil {
		return state, json.Unmarshal(data, &state)
	}
	for _, p := range []*int{&state.APIServerPort, &state.EtcdClientPort, &state.EtcdPeerPort} {
		port, err := freePort()
		if err != nil {
			return state, err
		}
		*p = port
	}
	keyFile := filepath.Join(dir, "service-account.key")
	if err := writeRSAKey(keyFile); err != nil {
		return state, fmt.Errorf("service-account key: %w", err)
	}
	token := randomHex(32)
	tokenLine := fmt.Sprintf("%s,admin,admin-uid,system:masters\n", token)
	if err := os.WriteFile(filepath.Join(dir, "tokens.csv"), []byte(tokenLine), 0o600); err != nil {
		return state, err
	}
	server := fmt.Sprintf("https://127.0.0.1:%d", state.APIServerPort)
	if err := writeKubeconfig(filepath.Join(dir, "admin.kubeconfig"), server, token); err != nil {
		return state, err
	}
	data, _ := json.Marshal(state)
	return state, os.WriteFile(path, data, 0o600)
}

// freePort finds an unused port in 10000-19999: below Linux's ephemeral range (32768 and up), so
// that a restart can bind its ports again without an outgoing connection having taken one as its
// source port meanwhile, and apart from the 20000-31999 the tests give operators. Another process
// may still take it before we bind it; the test helper then sees this process exit and starts again
// in a fresh directory.
func freePort() (int, error) {
	for attempt := 0; attempt < 100; attempt++ {
		n, err := rand.Int(rand.Reader, big.NewInt(10000))
		if err != nil {
			return 0, err
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 10000+n.Int64()))
		if err != nil {
			continue
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		return port, nil
	}
	return 0, fmt.Errorf("no free port in 10000-19999 after 100 tries")
}

func writeRSAKey(path string) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	block := &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}
	return os.WriteFile(path, pem.EncodeToMemory(block), 0o600)
}

func writeKubeconfig(path, server, token string) error {
	// The serving certificate is self-signed and written by kube-apiserver after this point.
	config := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: controlplane
  cluster:
    server: %s
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: %s
contexts:
- name: admin
  context:
    cluster: controlplane
    user: admin
current-context: admin
`, server, token)
	return os.WriteFile(path, []byte(config), 0o600)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		fail("random: %v", err)
	}
	return hex.EncodeToString(b)
}

func watchParent(parent int) {
	for range time.Tick(time.Second) {
		if os.Getppid() != parent {
			fail("parent process %d exited", parent)
		}
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "controlplane: "+format+"\n", args...)
	os.Exit(1)
}
