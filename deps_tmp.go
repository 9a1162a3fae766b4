package main
import (
 _ "modernc.org/sqlite"
 _ "github.com/jackc/pgx/v5/stdlib"
 _ "github.com/spf13/cobra"
 _ "golang.org/x/crypto/argon2"
 _ "golang.org/x/term"
 _ "github.com/prometheus/client_golang/prometheus"
 _ "github.com/google/go-cmp/cmp"
 _ "sigs.k8s.io/yaml"
 _ "go.uber.org/goleak"
)
func main(){}
