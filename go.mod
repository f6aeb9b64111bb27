module github.com/pastmon/pastmon

go 1.26.0

require github.com/DataDog/sketches-go v1.4.8

require (
	github.com/davecgh/go-spew v1.1.2-0.20180830191138-d8f796af33cc // indirect
	github.com/pmezard/go-difflib v1.0.1-0.20181226105442-5d4384ee4fb2 // indirect
	google.golang.org/protobuf v1.36.11 // indirect
)
