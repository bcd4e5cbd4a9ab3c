// Reads a Flipt config file the way Flipt v2.11.0 does (viper v1.21.0 with its YAML decoder, then
// mapstructure into Flipt's static-token and jwt-method shapes) and prints, as JSON, the tokens Flipt
// would load, its jwt method, whether the kubernetes method is on, and every string that Flipt would
// resolve as a reference (${env:...} or ${secret:...}), so tests can check that what the operator
// writes reaches Flipt unchanged and inert. Nothing is resolved here. The authentication switches are
// read with Flipt's environment binding too: FLIPT_<KEY_PATH> variables of this process decide over
// the file, as they do for Flipt.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
)

// Flipt's own patterns: internal/config/config.go (env) and cmd/flipt/main.go (secret).
var (
	envReference    = regexp.MustCompile(`^\${env:([a-zA-Z_]+[a-zA-Z0-9_]*)}$`)
	secretReference = regexp.MustCompile(`^\${secret:([a-zA-Z0-9_:/-]+)}$`)
)

// The shape of authentication.methods.token.storage.tokens in Flipt (internal/config/authentication.go).
type staticToken struct {
	Credential string            `mapstructure:"credential" json:"credential"`
	Metadata   map[string]string `mapstructure:"metadata" json:"metadata"`
}

// The shape of authentication.methods.jwt in Flipt (internal/config/authentication.go).
type jwtMethod struct {
	Enabled        bool `mapstructure:"enabled" json:"enabled"`
	ValidateClaims struct {
		Issuer    string   `mapstructure:"issuer" json:"issuer"`
		Subject   string   `mapstructure:"subject" json:"subject"`
		Audiences []string `mapstructure:"audiences" json:"audiences"`
	} `mapstructure:"validate_claims" json:"validateClaims"`
	JWKSURL       string `mapstructure:"jwks_url" json:"jwksUrl"`
	PublicKeyFile string `mapstructure:"public_key_file" json:"publicKeyFile"`
}

type output struct {
	Tokens            map[string]staticToken `json:"tokens"`
	JWT               jwtMethod              `json:"jwt"`
	KubernetesEnabled bool                   `json:"kubernetesEnabled"`
	References        []string               `json:"references"`
	Required          bool                   `json:"authenticationRequired"`
	TokenEnabled      bool                   `json:"tokenEnabled"`
	TokenStorageType  string                 `json:"tokenStorageType"`
}

// The keys whose variables are read here: Flipt's bindEnvVars binds one for every key of its config
// (internal/config/config.go), since viper's Unmarshal sees a variable only for a key it knows.
var switches = []string{
	"authentication.required",
	"authentication.methods.token.enabled",
	"authentication.methods.token.storage.type",
	"authentication.methods.kubernetes.enabled",
	"authentication.methods.jwt.enabled",
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: fliptconfig <config.yml>")
		os.Exit(2)
	}
	v := viper.New()
	// As Flipt's config.Load sets viper up.
	v.SetEnvPrefix("FLIPT")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	for _, key := range switches {
		v.MustBindEnv(key)
	}
	v.SetConfigFile(os.Args[1])
	v.SetConfigType("yaml")
	if err := v.ReadInConfig(); err != nil {
		fmt.Fprintln(os.Stderr, "read:", err)
		os.Exit(1)
	}
	var out output
	out.References = []string{}
	// Flipt's stringToReferenceHookFunc runs on every string it decodes; this one records instead.
	record := func(f reflect.Type, t reflect.Type, data any) (any, error) {
		if s, ok := data.(string); ok && (envReference.MatchString(s) || secretReference.MatchString(s)) {
			out.References = append(out.References, s)
		}
		return data, nil
	}
	if err := v.UnmarshalKey("authentication.methods.token.storage.tokens", &out.Tokens, viper.DecodeHook(mapstructure.ComposeDecodeHookFunc(record))); err != nil {
		fmt.Fprintln(os.Stderr, "decode:", err)
		os.Exit(1)
	}
	if err := v.UnmarshalKey("authentication.methods.jwt", &out.JWT, viper.DecodeHook(mapstructure.ComposeDecodeHookFunc(record))); err != nil {
		fmt.Fprintln(os.Stderr, "decode:", err)
		os.Exit(1)
	}
	// As Flipt decodes the switches: into bool fields, weakly typed (viper's decoder config), so "true", 1
	// or "t" is true and a string strconv.ParseBool does not know is an error; and through Unmarshal of
	// the whole config, as Flipt does, which is where a variable decides over the file. The jwt method's
	// enabled is taken from here too.
	var whole struct {
		Authentication struct {
			Required bool `mapstructure:"required"`
			Methods  struct {
				Token struct {
					Enabled bool `mapstructure:"enabled"`
					Storage struct {
						Type string `mapstructure:"type"`
					} `mapstructure:"storage"`
				} `mapstructure:"token"`
				Kubernetes struct {
					Enabled bool `mapstructure:"enabled"`
				} `mapstructure:"kubernetes"`
				JWT struct {
					Enabled bool `mapstructure:"enabled"`
				} `mapstructure:"jwt"`
			} `mapstructure:"methods"`
		} `mapstructure:"authentication"`
	}
	// Flipt's stringToReferenceHookFunc resolves ${env:NAME} in every string it decodes, before a
	// string becomes a boolean; a variable's value included.
	resolve := func(f reflect.Type, t reflect.Type, data any) (any, error) {
		if s, ok := data.(string); ok && envReference.MatchString(s) {
			return os.Getenv(envReference.ReplaceAllString(s, `$1`)), nil
		}
		return data, nil
	}
	if err := v.Unmarshal(&whole, viper.DecodeHook(mapstructure.ComposeDecodeHookFunc(resolve))); err != nil {
		fmt.Fprintln(os.Stderr, "decode:", err)
		os.Exit(1)
	}
	auth := whole.Authentication
	out.KubernetesEnabled = auth.Methods.Kubernetes.Enabled
	out.Required = auth.Required
	out.TokenEnabled = auth.Methods.Token.Enabled
	out.TokenStorageType = auth.Methods.Token.Storage.Type
	out.JWT.Enabled = auth.Methods.JWT.Enabled
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(out); err != nil {
		os.Exit(1)
	}
}
