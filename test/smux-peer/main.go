// A peer for test/smux-interop.test.ts, built at test time on xtaci/smux (the library the
// SSM agent vendors) from Debian's golang-github-xtaci-smux-dev. It dials the test's TCP
// address, runs an smux session in the given role, and serves each stream the test opens
// according to its first line:
//
//	sink              read to EOF (the test's FIN), answer "<sha256> <bytes>\n", then FIN
//	source N SEED     send pattern(SEED, N), then FIN
//	echo              copy everything back until EOF, then FIN
//	open K MAX        open K streams of its own at once; on each send "N SEED\n" and
//	                  pattern(SEED, N) (N up to MAX), read N bytes back, compare, print
//	                  "verified <id> <N> ok|bad" on stdout, FIN; then answer "opened K\n"
//
// It prints "ready" once the session is up and "closed" when the session ends (a
// keep-alive timeout, the connection gone), then exits.
package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xtaci/smux"
)

var printMu sync.Mutex

func report(format string, args ...interface{}) {
	printMu.Lock()
	defer printMu.Unlock()
	fmt.Printf(format+"\n", args...)
}

// pattern is SHA-256(seed LE64 || block LE64) for block 0, 1, 2, ... cut to n bytes.
func pattern(seed uint64, n int) []byte {
	out := make([]byte, 0, n+sha256.Size)
	var input [16]byte
	binary.LittleEndian.PutUint64(input[:8], seed)
	for block := uint64(0); len(out) < n; block++ {
		binary.LittleEndian.PutUint64(input[8:], block)
		sum := sha256.Sum256(input[:])
		out = append(out, sum[:]...)
	}
	return out[:n]
}

func main() {
	addr := flag.String("addr", "", "TCP address to dial")
	role := flag.String("role", "server", "smux role of this peer: client or server")
	interval := flag.Int("keepalive-interval-ms", 10000, "NOP interval")
	timeout := flag.Int("keepalive-timeout-ms", 30000, "close after this long without a frame")
	noKeepAlive := flag.Bool("no-keepalive", false, "send no NOPs and never time out")
	flag.Parse()

	conn, err := net.Dial("tcp", *addr)
	if err != nil {
		report("error %v", err)
		os.Exit(1)
	}
	config := smux.DefaultConfig()
	config.KeepAliveInterval = time.Duration(*interval) * time.Millisecond
	config.KeepAliveTimeout = time.Duration(*timeout) * time.Millisecond
	config.KeepAliveDisabled = *noKeepAlive
	var session *smux.Session
	if *role == "client" {
		session, err = smux.Client(conn, config)
	} else {
		session, err = smux.Server(conn, config)
	}
	if err != nil {
		report("error %v", err)
		os.Exit(1)
	}
	report("ready")
	for {
		stream, err := session.AcceptStream()
		if err != nil {
			report("closed")
			os.Exit(0)
		}
		go serve(session, stream)
	}
}

func serve(session *smux.Session, stream *smux.Stream) {
	defer stream.Close()
	reader := bufio.NewReader(stream)
	line, err := reader.ReadString('\n')
	if err != nil {
		report("error stream %d: no command: %v", stream.ID(), err)
		return
	}
	fields := strings.Fields(line)
	number := func(i int) int {
		if i >= len(fields) {
			return 0
		}
		n, _ := strconv.Atoi(fields[i])
		return n
	}
	switch fields[0] {
	case "sink":
		hash := sha256.New()
		n, _ := io.Copy(hash, reader)
		fmt.Fprintf(stream, "%x %d\n", hash.Sum(nil), n)
	case "source":
		stream.Write(pattern(uint64(number(2)), number(1)))
	case "echo":
		io.Copy(stream, reader)
	case "open":
		count, max := number(1), number(2)
		var wg sync.WaitGroup
		for i := 0; i < count; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				openAndVerify(session, 1+(i*7919)%max, uint64(1000+i))
			}(i)
		}
		wg.Wait()
		fmt.Fprintf(stream, "opened %d\n", count)
	default:
		report("error stream %d: unknown command %q", stream.ID(), fields[0])
	}
}

func openAndVerify(session *smux.Session, size int, seed uint64) {
	stream, err := session.OpenStream()
	if err != nil {
		report("error open: %v", err)
		return
	}
	defer stream.Close()
	data := pattern(seed, size)
	go func() {
		fmt.Fprintf(stream, "%d %d\n", size, seed)
		stream.Write(data)
	}()
	back := make([]byte, size)
	if _, err := io.ReadFull(stream, back); err != nil {
		report("verified %d %d bad: %v", stream.ID(), size, err)
		return
	}
	verdict := "ok"
	if !bytes.Equal(back, data) {
		verdict = "bad"
	}
	report("verified %d %d %s", stream.ID(), size, verdict)
}
