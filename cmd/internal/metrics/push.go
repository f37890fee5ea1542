package metrics

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus/push"
	"github.com/prometheus/common/expfmt"
)

// PushJob is the job label of the audit's group on the Pushgateway.
const PushJob = "sessaudit"

// Pushgateway is where a batch run's metrics go when no node_exporter reads
// a file of them: a Kubernetes CronJob's pod, say, which is gone before any
// scrape. The zero value is not usable; see ParsePushgateway.
type Pushgateway struct {
	url      string // without user information
	user     string
	password string
	hasAuth  bool
	client   push.HTTPDoer
}

// ParsePushgateway checks the Pushgateway's URL (http or https, with a
// host) before a run changes anything. User information in it becomes
// basic authentication and is kept out of every message. A nil client means
// an http.Client with a 30 s timeout.
func ParsePushgateway(raw string, client push.HTTPDoer) (*Pushgateway, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the URL, password and all: say only what is wrong.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("pushgateway URL: not a URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("pushgateway URL %q: want http://host:port or https://host:port", u.Redacted())
	}
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	p := &Pushgateway{client: client}
	if u.User != nil {
		p.user = u.User.Username()
		p.password, _ = u.User.Password()
		p.hasAuth = true
		u.User = nil
	}
	p.url = u.String()
	return p, nil
}

// Push sends run to the Pushgateway as job "sessaudit", grouped by shard
// when the run audited one (shard="I/N"; the Pushgateway adds the label to
// every series, as the metrics file carries it).
//
// A successful run replaces its whole group (PUT): every series is this
// run's, with the time of this success. A failed run replaces only the
// series it has (POST): its success 0, its times and filesystem calls; the
// counts and sessaudit_last_success_timestamp_seconds stay those of the
// group's last successful run, as Write carries the last success over in a
// file, so "no success for a day" can be told from "the last run failed".
func (p *Pushgateway) Push(ctx context.Context, run Run) error {
	reg := registry(run, "", run.Finished, run.Success)
	// The text format, which a person reading the Pushgateway's logs or a
	// capture can read too.
	pusher := push.New(p.url, PushJob).Gatherer(reg).Client(p.client).Format(expfmt.NewFormat(expfmt.TypeTextPlain))
	if p.hasAuth {
		pusher = pusher.BasicAuth(p.user, p.password)
	}
	if run.Shard != "" {
		pusher = pusher.Grouping(labelShard, run.Shard)
	}
	var err error
	if run.Success {
		err = pusher.PushContext(ctx)
	} else {
		err = pusher.AddContext(ctx)
	}
	if err != nil {
		return fmt.Errorf("push metrics to %s: %w", p.url, err)
	}
	return nil
}
