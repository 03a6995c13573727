// Test driver: splits each string of a JSON array read from stdin with github.com/google/shlex
// and prints a JSON array of {"words": [...], "error": "..."}, so that the simulator's
// splitter can be compared with the real one byte for byte.
package main

import (
	"encoding/json"
	"os"

	"github.com/google/shlex"
)

type result struct {
	Words []string `json:"words"`
	Error string   `json:"error,omitempty"`
}

func main() {
	var inputs []string
	if err := json.NewDecoder(os.Stdin).Decode(&inputs); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(2)
	}
	results := make([]result, 0, len(inputs))
	for _, input := range inputs {
		words, err := shlex.Split(input)
		r := result{Words: words}
		if err != nil {
			r.Error = err.Error()
		}
		results = append(results, r)
	}
	if err := json.NewEncoder(os.Stdout).Encode(results); err != nil {
		os.Exit(2)
	}
}
