// Package deps pins the modules the product uses while it is being built up; removed once each is imported for real.
package deps

import (
	_ "cel.dev/cel-go/cel"
	_ "fortio.org/fortio/fhttp"
	_ "fortio.org/fortio/periodic"
	_ "github.com/prometheus/client_golang/api/prometheus/v1"
	_ "github.com/spf13/cobra"
	_ "go.yaml.in/yaml/v3"
	_ "istio.io/client-go/pkg/apis/networking/v1"
	_ "istio.io/client-go/pkg/apis/security/v1"
	_ "istio.io/client-go/pkg/apis/telemetry/v1"
	_ "k8s.io/api/apps/v1"
	_ "k8s.io/client-go/dynamic"
	_ "k8s.io/client-go/kubernetes"
	_ "k8s.io/client-go/tools/clientcmd"
	_ "sigs.k8s.io/yaml"
)
