using System.Text.Json.Serialization;

namespace PgBackupTools.Core.Repository;

/// <summary>Source-generated JSON for everything the repository stores, so the Native AOT entry point can read it too.</summary>
[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(RepositoryInfo))]
[JsonSerializable(typeof(PgBackup))]
[JsonSerializable(typeof(PgBackupTestResult))]
[JsonSerializable(typeof(BackupInProgressMarker))]
internal sealed partial class RepositoryJsonContext : JsonSerializerContext;
