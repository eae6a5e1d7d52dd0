package testcluster

import (
	"context"
	"fmt"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// TokenFor issues a one-hour token for an existing ServiceAccount through
// the TokenRequest API. Use it with ConfigForToken to act as that account,
// subject to RBAC.
func (c *Cluster) TokenFor(ctx context.Context, namespace, serviceAccount string) (string, error) {
	expiry := int64(3600)
	tr, err := c.clientset.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, serviceAccount,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}},
		metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token for serviceaccount %s/%s: %w", namespace, serviceAccount, err)
	}
	return tr.Status.Token, nil
}

// ConfigForServiceAccount is TokenFor followed by ConfigForToken.
func (c *Cluster) ConfigForServiceAccount(ctx context.Context, namespace, serviceAccount string) (*rest.Config, error) {
	token, err := c.TokenFor(ctx, namespace, serviceAccount)
	if err != nil {
		return nil, err
	}
	return c.ConfigForToken(token), nil
}

// NewNamespace creates a namespace with a unique name derived from the test
// name and returns the name. It is not deleted afterwards: without a
// namespace controller a deleted namespace would stay Terminating anyway,
// and the whole cluster goes away with Stop.
func (c *Cluster) NewNamespace(t testing.TB) string {
	t.Helper()
	ns, err := c.clientset.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: namespacePrefix(t.Name())},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}

// namespacePrefix turns a test name into a DNS label prefix of at most 40
// characters ending in "-".
func namespacePrefix(testName string) string {
	b := make([]byte, 0, 41)
	dash := true // suppress leading and repeated dashes
	for i := 0; i < len(testName) && len(b) < 40; i++ {
		ch := testName[i]
		switch {
		case ch >= 'A' && ch <= 'Z':
			ch += 'a' - 'A'
		case ch >= 'a' && ch <= 'z', ch >= '0' && ch <= '9':
		default:
			ch = '-'
		}
		if ch == '-' && dash {
			continue
		}
		dash = ch == '-'
		b = append(b, ch)
	}
	if len(b) == 0 || b[len(b)-1] != '-' {
		b = append(b, '-')
	}
	if b[0] == '-' {
		b = append([]byte("t"), b...)
	}
	return string(b)
}
