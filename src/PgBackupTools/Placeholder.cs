namespace PgBackupTools; internal static class Placeholder {}
