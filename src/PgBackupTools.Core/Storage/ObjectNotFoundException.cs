using PgBackupTools.Core.Errors;

namespace PgBackupTools.Core.Storage;

public sealed class ObjectNotFoundException(string location, string key)
    : PgBackupException(FailureKind.NotFound, $"'{key}' does not exist in the repository at {location}.", key)
{
    public string Key { get; } = key;
}

public sealed class ObjectAlreadyExistsException(string location, string key)
    : PgBackupException(FailureKind.AlreadyExists, $"'{key}' already exists in the repository at {location} and is never overwritten.", key)
{
    public string Key { get; } = key;
}
