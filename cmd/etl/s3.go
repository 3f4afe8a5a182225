package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/urfave/cli/v2"
)

func s3Flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "s3-endpoint-url", Usage: "the S3 endpoint `URL`, for S3-compatible stores (path-style addressing; also AWS_ENDPOINT_URL_S3)", EnvVars: env("s3-endpoint-url")},
		&cli.StringFlag{Name: "s3-sse", Usage: "server-side encryption of the objects: AES256 or aws:kms", EnvVars: env("s3-sse")},
		&cli.StringFlag{Name: "s3-kms-key-id", Usage: "the KMS key `ID` for --s3-sse aws:kms", EnvVars: env("s3-kms-key-id")},
		&cli.DurationFlag{Name: "s3-abort-uploads-older-than", Usage: "abort multipart uploads under the prefix begun longer ago than this (what a killed run left); 0 never", EnvVars: env("s3-abort-uploads-older-than"), Value: time.Hour},
		&cli.StringFlag{Name: "s3-storage-class", Usage: "the objects' storage `CLASS` (STANDARD, INTELLIGENT_TIERING, ...)", EnvVars: env("s3-storage-class")},
	}
}

// newS3Client builds an S3 client from the standard AWS chain, with the
// run's region and profile. With an endpoint (the flag or
// AWS_ENDPOINT_URL_S3), it uses path-style addressing, as S3-compatible
// stores expect.
func newS3Client(ctx context.Context, c *cli.Context) (*s3.Client, error) {
	var opts []func(*config.LoadOptions) error
	if v := c.String("region"); v != "" {
		opts = append(opts, config.WithRegion(v))
	}
	if v := c.String("profile"); v != "" {
		opts = append(opts, config.WithSharedConfigProfile(v))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("aws configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("no AWS region: pass --region or set AWS_REGION")
	}
	endpoint := c.String("s3-endpoint-url")
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		o.UsePathStyle = endpoint != "" || os.Getenv("AWS_ENDPOINT_URL_S3") != ""
	}), nil
}
