package testcluster

import (
	"context"
	"fmt"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WaitAllowed waits until the API server's authorizer allows user (with
// groups) the request attrs. RBAC objects reach the authorizer through an
// informer, so a Role applied a moment ago may not be in force yet; tests
// that act as a user right after granting it wait here first.
func (c *Cluster) WaitAllowed(ctx context.Context, user string, groups []string, attrs authorizationv1.ResourceAttributes) error {
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: user, Groups: groups, ResourceAttributes: &attrs,
	}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := c.clientset.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
		if err == nil && res.Status.Allowed {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("access review for %s: %w", user, err)
			}
			return fmt.Errorf("%s is still not allowed to %s %s in %s: %s", user, attrs.Verb, attrs.Resource, attrs.Namespace, res.Status.Reason)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
