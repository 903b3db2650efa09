export { createDispatcher, type Dispatcher, type DispatcherObserver } from './dispatcher.js';
export { createDispatcherRepository, type DispatcherRepository } from './dispatcher.repository.js';
export { decide } from './lifecycle.js';
