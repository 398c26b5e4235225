"""mcpfleet: serve MCP servers from a laptop to a production fleet on AWS."""

from mcpfleet.config import Config
from mcpfleet.errors import McpfleetError, ToolError
from mcpfleet.server import content
from mcpfleet.server.app import Server
from mcpfleet.server.content import ToolResult
from mcpfleet.server.context import Context, ElicitResult
from mcpfleet.server.permissions import AwsPermission, aws
from mcpfleet.server.signature import header_param
from mcpfleet.transport.asgi import McpApp

__all__ = [
    "AwsPermission",
    "Config",
    "Context",
    "ElicitResult",
    "McpApp",
    "McpfleetError",
    "Server",
    "ToolError",
    "ToolResult",
    "aws",
    "content",
    "header_param",
]
__version__ = "0.1.0"
