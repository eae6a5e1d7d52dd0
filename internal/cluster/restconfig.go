package cluster

import "k8s.io/client-go/rest"

// RESTConfig is the client configuration Load uses for a kubeconfig and
// context (empty: the defaults, then in-cluster), and the context's name;
// for commands that talk to the same cluster (the attestation store).
// Errors wrap ErrConfig.
func RESTConfig(kubeconfig, context string) (*rest.Config, string, error) {
	return restConfig(Options{Kubeconfig: kubeconfig, Context: context})
}
